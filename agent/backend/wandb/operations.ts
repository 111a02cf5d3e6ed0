import { z } from "zod";
import { operation } from "./transport.js";

/*
 * The GraphQL operations the launch agent sends (reference §7.8), with the names and variable
 * names W&B's own agent uses so that server-side logs and rate limits treat us the same. Each
 * `data` schema lists only the fields we read.
 */

export const LAUNCH_PROJECT = "model-registry";

const Success = z.object({ success: z.boolean() });

export const Viewer = operation(
  "Viewer",
  `query Viewer {
  viewer { id entity username }
}`,
  z.object({ viewer: z.object({ id: z.string().nullish(), entity: z.string().nullish(), username: z.string().nullish() }).nullish() }),
);

export const ProjectRunQueues = operation(
  "ProjectRunQueues",
  `query ProjectRunQueues($entity: String!, $projectName: String!) {
  project(entityName: $entity, name: $projectName) {
    runQueues { id name createdBy access }
  }
}`,
  z.object({
    project: z
      .object({ runQueues: z.array(z.object({ id: z.string(), name: z.string(), createdBy: z.unknown().optional(), access: z.string().nullish() })) })
      .nullish(),
  }),
);

export const CreateRunQueue = operation(
  "CreateRunQueue",
  `mutation CreateRunQueue($entity: String!, $project: String!, $queueName: String!, $access: RunQueueAccessType!) {
  createRunQueue(input: { entityName: $entity, projectName: $project, queueName: $queueName, access: $access }) {
    success
    queueID
  }
}`,
  z.object({ createRunQueue: z.object({ success: z.boolean(), queueID: z.string().nullish() }).nullish() }),
);

export const CreateLaunchAgent = operation(
  "createLaunchAgent",
  `mutation createLaunchAgent($entity: String!, $project: String!, $queues: [ID!]!, $hostname: String!, $agentConfig: JSONString, $version: String) {
  createLaunchAgent(input: { entityName: $entity, projectName: $project, runQueues: $queues, hostname: $hostname, agentConfig: $agentConfig, version: $version }) {
    launchAgentId
  }
}`,
  z.object({ createLaunchAgent: z.object({ launchAgentId: z.string() }) }),
);

export const EntityIsTeam = operation(
  "EntityIsTeam",
  `query EntityIsTeam($entity: String!) {
  entity(name: $entity) { id isTeam }
}`,
  z.object({ entity: z.object({ id: z.string().nullish(), isTeam: z.boolean() }).nullish() }),
);

export const LaunchAgent = operation(
  "LaunchAgent",
  `query LaunchAgent($agentId: ID!) {
  launchAgent(id: $agentId) { id name runQueues hostname agentStatus stopPolling heartbeatAt }
}`,
  z.object({
    launchAgent: z.object({ id: z.string(), name: z.string(), stopPolling: z.boolean().nullish(), agentStatus: z.string().nullish() }).nullish(),
  }),
);

export const UpdateLaunchAgent = operation(
  "updateLaunchAgent",
  `mutation updateLaunchAgent($agentId: ID!, $agentStatus: String) {
  updateLaunchAgent(input: { launchAgentId: $agentId, agentStatus: $agentStatus }) { success }
}`,
  z.object({ updateLaunchAgent: Success.nullish() }),
);

export const PopFromRunQueue = operation(
  "popFromRunQueue",
  `mutation popFromRunQueue($entity: String!, $project: String!, $queueName: String!, $launchAgentId: ID) {
  popFromRunQueue(input: { entityName: $entity, projectName: $project, queueName: $queueName, launchAgentId: $launchAgentId }) {
    runQueueItemId
    runSpec
  }
}`,
  // runSpec is a JSON scalar: normally an object, but older servers send a JSON string.
  z.object({ popFromRunQueue: z.object({ runQueueItemId: z.string().nullish(), runSpec: z.unknown() }).nullish() }),
);

export const AckRunQueueItem = operation(
  "ackRunQueueItem",
  `mutation ackRunQueueItem($itemId: ID!, $runId: String!) {
  ackRunQueueItem(input: { runQueueItemId: $itemId, runName: $runId }) { success }
}`,
  z.object({ ackRunQueueItem: Success.nullish() }),
);

export const RunState = operation(
  "RunState",
  `query RunState($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) { state }
  }
}`,
  z.object({ project: z.object({ run: z.object({ state: z.string().nullish() }).nullish() }).nullish() }),
);

export const RunStoppedStatus = operation(
  "RunStoppedStatus",
  `query RunStoppedStatus($projectName: String, $entityName: String, $runId: String!) {
  project(name: $projectName, entityName: $entityName) {
    run(name: $runId) { stopped }
  }
}`,
  z.object({ project: z.object({ run: z.object({ stopped: z.boolean().nullish() }).nullish() }).nullish() }),
);

export const FailRunQueueItem = operation(
  "failRunQueueItem",
  `mutation failRunQueueItem($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) {
  failRunQueueItem(input: { runQueueItemId: $runQueueItemId, message: $message, stage: $stage, filePaths: $filePaths }) { success }
}`,
  z.object({ failRunQueueItem: Success.nullish() }),
);

export const UpdateRunQueueItemWarning = operation(
  "updateRunQueueItemWarning",
  `mutation updateRunQueueItemWarning($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) {
  updateRunQueueItemWarning(input: { runQueueItemId: $runQueueItemId, message: $message, stage: $stage, filePaths: $filePaths }) { success }
}`,
  z.object({ updateRunQueueItemWarning: Success.nullish() }),
);

export const PushToRunQueueByName = operation(
  "pushToRunQueueByName",
  `mutation pushToRunQueueByName($entityName: String!, $projectName: String!, $queueName: String!, $runSpec: JSONString!) {
  pushToRunQueueByName(input: { entityName: $entityName, projectName: $projectName, queueName: $queueName, runSpec: $runSpec }) {
    runQueueItemId
    runSpec
  }
}`,
  z.object({ pushToRunQueueByName: z.object({ runQueueItemId: z.string(), runSpec: z.unknown() }).nullish() }),
);

/* Artifacts: the public SDK's flow — membership by name (or artifact by id), then the manifest's
 * direct URL, then a page of file direct URLs for the version. */

const ArtifactFields = `
    id
    versionIndex
    state
    digest
    artifactType { name }
    artifactSequence { name project { name entity { name } } }`;

export const ArtifactSchema = z.object({
  id: z.string(),
  versionIndex: z.number().int().nullish(),
  state: z.string(),
  digest: z.string().nullish(),
  artifactType: z.object({ name: z.string() }),
  artifactSequence: z.object({
    name: z.string(),
    project: z.object({ name: z.string(), entity: z.object({ name: z.string() }) }).nullish(),
  }),
});
export type ArtifactNode = z.infer<typeof ArtifactSchema>;

export const ArtifactMembershipByName = operation(
  "ArtifactMembershipByName",
  `query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    artifactCollectionMembership(name: $name) {
      id
      versionIndex
      artifactCollection { name project { name entity { name } } }
      artifact {${ArtifactFields}
      }
    }
  }
}`,
  z.object({
    project: z
      .object({
        artifactCollectionMembership: z
          .object({
            id: z.string(),
            versionIndex: z.number().int().nullish(),
            artifactCollection: z.object({ name: z.string(), project: z.object({ name: z.string(), entity: z.object({ name: z.string() }) }) }).nullish(),
            artifact: ArtifactSchema.nullish(),
          })
          .nullish(),
      })
      .nullish(),
  }),
);

export const ArtifactByID = operation(
  "ArtifactByID",
  `query ArtifactByID($id: ID!) {
  artifact(id: $id) {${ArtifactFields}
  }
}`,
  z.object({ artifact: ArtifactSchema.nullish() }),
);

export const FetchArtifactManifest = operation(
  "FetchArtifactManifest",
  `query FetchArtifactManifest($id: ID!) {
  artifact(id: $id) {
    currentManifest { file { directUrl } }
  }
}`,
  z.object({ artifact: z.object({ currentManifest: z.object({ file: z.object({ directUrl: z.string() }) }).nullish() }).nullish() }),
);

export const GetArtifactMembershipFileUrls = operation(
  "GetArtifactMembershipFileUrls",
  `query GetArtifactMembershipFileUrls($entity: String!, $project: String!, $collection: String!, $alias: String!, $cursor: String, $perPage: Int) {
  project(name: $project, entityName: $entity) {
    artifactCollection(name: $collection) {
      artifactMembership(aliasName: $alias) {
        files(after: $cursor, first: $perPage) {
          pageInfo { endCursor hasNextPage }
          edges { node { name directUrl } }
        }
      }
    }
  }
}`,
  z.object({
    project: z
      .object({
        artifactCollection: z
          .object({
            artifactMembership: z
              .object({
                files: z.object({
                  pageInfo: z.object({ endCursor: z.string().nullish(), hasNextPage: z.boolean() }),
                  edges: z.array(z.object({ node: z.object({ name: z.string(), directUrl: z.string() }).nullish() })),
                }),
              })
              .nullish(),
          })
          .nullish(),
      })
      .nullish(),
  }),
);

/** One file's URL, asked for again when the listed one was refused (signed URLs expire): the SDK's refresh query. */
export const ArtifactMembershipFiles = operation(
  "ArtifactMembershipFiles",
  `query ArtifactMembershipFiles($entity: String!, $project: String!, $collection: String!, $alias: String!, $fileNames: [String!], $cursor: String, $perPage: Int = 50) {
  project(name: $project, entityName: $entity) {
    artifactCollection(name: $collection) {
      artifactMembership(aliasName: $alias) {
        files(names: $fileNames, after: $cursor, first: $perPage) {
          edges { node { name directUrl } }
        }
      }
    }
  }
}`,
  z.object({
    project: z
      .object({
        artifactCollection: z
          .object({
            artifactMembership: z
              .object({ files: z.object({ edges: z.array(z.object({ node: z.object({ name: z.string(), directUrl: z.string() }).nullish() })) }) })
              .nullish(),
          })
          .nullish(),
      })
      .nullish(),
  }),
);

/** Artifact manifest v1 (the JSON behind `currentManifest.file.directUrl`). */
export const ManifestSchema = z.looseObject({
  version: z.literal(1),
  storagePolicy: z.string(),
  storagePolicyConfig: z.looseObject({ storageLayout: z.string().nullish(), storageRegion: z.string().nullish() }).nullish(),
  contents: z.record(
    z.string(),
    z.looseObject({
      digest: z.string(),
      size: z.number().int().nonnegative().nullish(),
      ref: z.string().nullish(),
      birthArtifactID: z.string().nullish(),
    }),
  ),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/* Sweeps (reference §7.4): a sweep run starts only while its sweep runs; a failed scheduler cancels it. */

/** The official document selects `state`; we also select `id`, which UpsertSweep needs (the official agent asks a second query for it). */
export const GetSweepState = operation(
  "GetSweepState",
  `query GetSweepState($entity: String, $project: String, $sweep: String!) {
  project(name: $project, entityName: $entity) {
    sweep(sweepName: $sweep) { id state }
  }
}`,
  z.object({ project: z.object({ sweep: z.object({ id: z.string(), state: z.string() }).nullish() }).nullish() }),
);

export const UpsertSweep = operation(
  "UpsertSweep",
  `mutation UpsertSweep($id: ID, $state: String, $entityName: String, $projectName: String) {
  upsertSweep(input: { id: $id, state: $state, entityName: $entityName, projectName: $projectName }) {
    sweep { name }
  }
}`,
  z.object({ upsertSweep: z.object({ sweep: z.object({ name: z.string() }).nullish() }).nullish() }),
);

/* The agent's own run (reference §7.2 step 7, §7.5): `wandb.init` in model-registry named after the agent, used
 * as a file store for the error logs that failed items link to. Files go up as wandb-core uploads files outside
 * a live run: CreateRunFiles → PUT to the signed URL → MarkRunFilesUploaded. */

export const UpsertBucket = operation(
  "UpsertBucket",
  `mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString, $host: String, $jobType: String) {
  upsertBucket(input: { name: $name, modelName: $project, entityName: $entity, config: $config, host: $host, jobType: $jobType }) {
    bucket { id name project { name entity { name } } }
    inserted
  }
}`,
  z.object({
    upsertBucket: z
      .object({
        bucket: z.object({ id: z.string(), name: z.string(), project: z.object({ name: z.string(), entity: z.object({ name: z.string() }) }).nullish() }).nullish(),
        inserted: z.boolean().nullish(),
      })
      .nullish(),
  }),
);

export const CreateRunFiles = operation(
  "CreateRunFiles",
  `mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: { entityName: $entity, projectName: $project, runName: $run, files: $files }) {
    runID
    uploadHeaders
    files { name uploadUrl }
  }
}`,
  z.object({
    createRunFiles: z
      .object({
        runID: z.string(),
        uploadHeaders: z.array(z.string()),
        files: z.array(z.object({ name: z.string(), uploadUrl: z.string().nullish() })),
      })
      .nullish(),
  }),
);

export const MarkRunFilesUploaded = operation(
  "MarkRunFilesUploaded",
  `mutation MarkRunFilesUploaded($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  markRunFilesUploaded(input: { entityName: $entity, projectName: $project, runName: $run, files: $files }) { success }
}`,
  z.object({ markRunFilesUploaded: Success.nullish() }),
);
