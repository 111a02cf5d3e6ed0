
# ----- stage 1: build -----
FROM python:3.11 as build

# requirements section depends on pip vs conda, and presence of buildx
ENV PIP_PROGRESS_BAR off

RUN python -m venv /env
# make sure we install into the env
ENV PATH="/env/bin:$PATH"

COPY src/requirements.txt ./
RUN WANDB_DISABLE_CACHE=true pip install uv && uv pip install -r requirements.txt


# ----- stage 2: base -----

FROM nvidia/cuda:12.2.0-runtime-ubuntu22.04 as base

# make non-interactive so build doesn't block on questions
ENV DEBIAN_FRONTEND=noninteractive

# install python
RUN apt-get update -qq && apt-get install --no-install-recommends -y     python3.11 \
libpython3.11 \
python3-pip \
python3-setuptools     && apt-get -qq purge && apt-get -qq clean     && rm -rf /var/lib/apt/lists/*

# make sure `python` points at the right version
RUN update-alternatives --install /usr/bin/python python /usr/bin/python3.11 1     && update-alternatives --install /usr/local/bin/python python /usr/bin/python3.11 1


COPY --from=build /env /env
ENV PATH="/env/bin:$PATH"

ENV SHELL /bin/bash

# some resources (eg sagemaker) must run on root

RUN useradd     --create-home     --no-log-init     --shell /bin/bash     --gid 0     --uid 1000     launch_agent || echo ""

USER launch_agent

WORKDIR /home/launch_agent
RUN chown -R 1000 /home/launch_agent

# make artifacts cache dir unrelated to build
RUN mkdir -p /home/launch_agent/.cache && chown -R 1000 /home/launch_agent/.cache

# copy code/etc
COPY --chown=1000 src/ /home/launch_agent

ENV PYTHONUNBUFFERED=1


ENTRYPOINT ["python", "train.py"]

