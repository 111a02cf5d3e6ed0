
# ----- stage 1: build -----
FROM python:3.11 as build

# requirements section depends on pip vs conda, and presence of buildx
ENV PIP_PROGRESS_BAR off

RUN python -m venv /env
# make sure we install into the env
ENV PATH="/env/bin:$PATH"

COPY src/requirements.frozen.txt _wandb_bootstrap.py ./
RUN WANDB_DISABLE_CACHE=true python _wandb_bootstrap.py


# ----- stage 2: base -----

FROM python:3.11-buster as base


COPY --from=build /env /env
ENV PATH="/env/bin:$PATH"

ENV SHELL /bin/bash

# some resources (eg sagemaker) must run on root

RUN useradd     --create-home     --no-log-init     --shell /bin/bash     --gid 0     --uid 1000     root || echo ""

USER root

WORKDIR /home/root
RUN chown -R 1000 /home/root

# make artifacts cache dir unrelated to build
RUN mkdir -p /home/root/.cache && chown -R 1000 /home/root/.cache

# copy code/etc
COPY --chown=1000 src/ /home/root

ENV PYTHONUNBUFFERED=1


ENTRYPOINT ["python3", "src/train.py", "--lr", "0.1"]

