
# ----- stage 1: build -----
FROM python:3.9 as build

# requirements section depends on pip vs conda, and presence of buildx
ENV PIP_PROGRESS_BAR off

RUN python -m venv /env
# make sure we install into the env
ENV PATH="/env/bin:$PATH"

COPY src/requirements.frozen.txt _wandb_bootstrap.py ./
RUN WANDB_DISABLE_CACHE=true python _wandb_bootstrap.py


# ----- stage 2: base -----

FROM python:3.9-buster as base


COPY --from=build /env /env
ENV PATH="/env/bin:$PATH"

ENV SHELL /bin/bash

# some resources (eg sagemaker) must run on root
USER root

WORKDIR /home/launch_agent
RUN chown -R 0 /home/launch_agent

# make artifacts cache dir unrelated to build
RUN mkdir -p /home/launch_agent/.cache && chown -R 0 /home/launch_agent/.cache

# copy code/etc
COPY --chown=0 src/ /home/launch_agent

ENV PYTHONUNBUFFERED=1


ENTRYPOINT ["python", "train.py"]

