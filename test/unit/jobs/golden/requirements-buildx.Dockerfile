
# ----- stage 1: build -----
FROM python:3.10 as build

# requirements section depends on pip vs conda, and presence of buildx
ENV PIP_PROGRESS_BAR off

RUN python -m venv /env
# make sure we install into the env
ENV PATH="/env/bin:$PATH"

COPY src/requirements.txt ./
RUN --mount=type=cache,mode=0777,target=/root/.cache/pip pip install uv && uv pip install -r requirements.txt


# ----- stage 2: base -----

FROM python:3.10-buster as base


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

