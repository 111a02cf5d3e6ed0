
# ----- stage 1: build -----
FROM python:3.12 as build

# requirements section depends on pip vs conda, and presence of buildx
ENV PIP_PROGRESS_BAR off

RUN python -m venv /env
# make sure we install into the env
ENV PATH="/env/bin:$PATH"

COPY src/requirements.txt ./
RUN --mount=type=cache,mode=0777,target=/root/.cache/pip pip install uv && uv pip install -r requirements.txt


# ----- stage 2: base -----

FROM python:3.12-bookworm as base


COPY --from=build /env /env
ENV PATH="/env/bin:$PATH"

ENV SHELL /bin/bash

# some resources (eg sagemaker) must run on root

RUN useradd     --create-home     --no-log-init     --shell /bin/bash     --gid 0     --uid 1000     alice || echo ""

USER alice

WORKDIR /home/alice
RUN chown -R 1000 /home/alice

# make artifacts cache dir unrelated to build
RUN mkdir -p /home/alice/.cache && chown -R 1000 /home/alice/.cache

# copy code/etc
COPY --chown=1000 src/ /home/alice

ENV PYTHONUNBUFFERED=1


ENTRYPOINT ["python", "-m", "pkg.main"]

