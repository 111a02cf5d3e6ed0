import { LaunchError } from "../errors.js";

/**
 * The Dockerfile the agent generates when a job brings none (reference §2.4–§2.6). The text must be
 * byte-identical to the official agent's for the same inputs: the image tag hashes it (§3.1), so any
 * difference means the two agents never share images. Every string below is laid out to reproduce
 * the official rendering exactly (blank lines, four-space runs where its source used line
 * continuations, the literal backslash-newline between accelerator packages).
 */

/** Which requirements file drives the Python environment, first match wins (§2.6). */
export type RequirementsBranch =
  | { kind: "requirements" }
  | { kind: "pyproject" }
  | { kind: "frozen" }
  | { kind: "none" };

/** The cache-mount prefix with BuildKit (docker + buildx), or the no-cache prefix (plain docker, kaniko). */
export type InstallPrefix = "buildx" | "no-cache";

export const INSTALL_PREFIXES: Record<InstallPrefix, string> = {
  buildx: "RUN --mount=type=cache,mode=0777,target=/root/.cache/pip",
  "no-cache": "RUN WANDB_DISABLE_CACHE=true",
};

export interface DockerfileInputs {
  /** `X.Y`. */
  pythonVersion: string;
  requirements: RequirementsBranch;
  prefix: InstallPrefix;
  /** OS user name of the agent process; becomes the image user and `/home/<user>`. */
  user: string;
  /** The image user's uid as the run spec wrote it (`docker.user_id`, default 1000). */
  uid: string | number;
  /** The run's resource: `sagemaker` runs as root. */
  resource: string;
  /** `resource_args.<resource>.builder.accelerator.base_image` (or legacy `.cuda.base_image`). */
  acceleratorBaseImage?: string | null;
  /** The command the image runs (overrides.entry_point, else the job's entrypoint). */
  entrypoint: readonly string[];
}

const FROZEN_FILES = "src/requirements.frozen.txt _wandb_bootstrap.py";

/** Render the generated `Dockerfile.wandb`. Pure. */
export function renderDockerfile(input: DockerfileInputs): string {
  const py = checkPythonVersion(input.pythonVersion);
  const sagemaker = input.resource === "sagemaker";
  // The official agent builds SageMaker images as root but keeps the user's name for the workdir.
  const uid = sagemaker ? "0" : String(input.uid);
  const workdir = `/home/${input.user}`;
  return (
    "\n# ----- stage 1: build -----\n" +
    `FROM python:${py} as build\n` +
    "\n# requirements section depends on pip vs conda, and presence of buildx\n" +
    "ENV PIP_PROGRESS_BAR off\n" +
    requirementsSection(input.requirements, INSTALL_PREFIXES[input.prefix]) +
    "\n\n# ----- stage 2: base -----\n" +
    baseSetup(py, input.acceleratorBaseImage) +
    "\n\nCOPY --from=build /env /env\n" +
    'ENV PATH="/env/bin:$PATH"\n' +
    "\nENV SHELL /bin/bash\n" +
    "\n# some resources (eg sagemaker) must run on root\n" +
    userSetup(input.user, uid, sagemaker) +
    `\n\nWORKDIR ${workdir}\n` +
    `RUN chown -R ${uid} ${workdir}\n` +
    "\n# make artifacts cache dir unrelated to build\n" +
    `RUN mkdir -p ${workdir}/.cache && chown -R ${uid} ${workdir}/.cache\n` +
    "\n# copy code/etc\n" +
    `COPY --chown=${uid} src/ ${workdir}\n` +
    "\nENV PYTHONUNBUFFERED=1\n" +
    `\n\nENTRYPOINT ${pythonJsonList(input.entrypoint)}\n` +
    "\n"
  );
}

export function requirementsSection(branch: RequirementsBranch, prefix: string): string {
  const pip = (files: string, install: string) =>
    "\nRUN python -m venv /env\n" +
    "# make sure we install into the env\n" +
    'ENV PATH="/env/bin:$PATH"\n' +
    `\nCOPY ${files} ./\n` +
    `${prefix} ${install}\n`;
  switch (branch.kind) {
    case "requirements":
    case "pyproject":
      // pyproject dependencies are written out as src/requirements.txt first (see context.ts).
      return pip("src/requirements.txt", "pip install uv && uv pip install -r requirements.txt");
    case "frozen":
      return pip(FROZEN_FILES, "python _wandb_bootstrap.py");
    case "none":
      return "RUN mkdir -p env/";
  }
}

function baseSetup(py: string, accelerator: string | null | undefined): string {
  if (accelerator) {
    const image = validateAcceleratorBaseImage(accelerator);
    const packages = [`python${py}`, `libpython${py}`, "python3-pip", "python3-setuptools"].join(" \\\n");
    return (
      `\nFROM ${image} as base\n` +
      "\n# make non-interactive so build doesn't block on questions\n" +
      "ENV DEBIAN_FRONTEND=noninteractive\n" +
      "\n# install python\n" +
      `RUN apt-get update -qq && apt-get install --no-install-recommends -y     ${packages}     && apt-get -qq purge && apt-get -qq clean     && rm -rf /var/lib/apt/lists/*\n` +
      "\n# make sure `python` points at the right version\n" +
      `RUN update-alternatives --install /usr/bin/python python /usr/bin/python${py} 1     && update-alternatives --install /usr/local/bin/python python /usr/bin/python${py} 1\n`
    );
  }
  const minor = Number(py.split(".")[1]);
  return `\nFROM python:${py}-${minor < 12 ? "buster" : "bookworm"} as base\n`;
}

function userSetup(user: string, uid: string, sagemaker: boolean): string {
  if (sagemaker) return "USER root";
  return (
    `\nRUN useradd     --create-home     --no-log-init     --shell /bin/bash     --gid 0     --uid ${uid}     ${user} || echo ""\n` +
    `\nUSER ${user}`
  );
}

function checkPythonVersion(version: string): string {
  if (!/^\d+\.\d+$/.test(version)) {
    throw new LaunchError(
      `Python version ${JSON.stringify(version)} is not of the form X.Y; set the job's "runtime" (e.g. "3.11.4") in wandb-job.json`,
      "build",
    );
  }
  return version;
}

/** Image references only, optionally pinned by digest: nothing that could smuggle a second Dockerfile line. */
const UNSAFE_IMAGE_CHARS = /[\s#]/;
const SHA256_DIGEST = /^sha256:[0-9a-fA-F]{64}$/;
const IMAGE_NAME =
  /^(?:(?=[^:/]{1,253})(?!-)[a-zA-Z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-zA-Z0-9-]{1,63}(?<!-))*(?::[0-9]{1,5})?\/)?((?![._-])(?:[a-z0-9._-]*)(?<![._-])(?:\/(?![._-])[a-z0-9._-]*(?<![._-]))*)(?::(?![.-])[a-zA-Z0-9_.-]{1,128})?$/;

export function validateAcceleratorBaseImage(image: string): string {
  const where = "resource_args.<resource>.builder.accelerator.base_image";
  if (UNSAFE_IMAGE_CHARS.test(image)) {
    throw new LaunchError(`${where} ${JSON.stringify(image)} contains whitespace or '#'; give a plain image reference`, "build");
  }
  const at = image.indexOf("@");
  const name = at === -1 ? image : image.slice(0, at);
  if (at !== -1 && !SHA256_DIGEST.test(image.slice(at + 1))) {
    throw new LaunchError(`${where} ${JSON.stringify(image)} has a digest that is not sha256:<64 hex characters>`, "build");
  }
  if (!name || !IMAGE_NAME.test(name)) {
    throw new LaunchError(`${where} ${JSON.stringify(image)} is not a valid image reference (e.g. nvidia/cuda:12.2.0-runtime-ubuntu22.04)`, "build");
  }
  return image;
}

/**
 * A list of strings as Python's `json.dumps` writes it: `", "` between items and every character
 * outside printable ASCII escaped as `\uXXXX` (UTF-16 units, as Python does for astral characters).
 */
export function pythonJsonList(items: readonly string[]): string {
  return `[${items.map(pythonJsonString).join(", ")}]`;
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
};

function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    if (SHORT_ESCAPES[ch]) out += SHORT_ESCAPES[ch];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}
