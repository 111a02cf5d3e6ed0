/**
 * The part of W&B's GraphQL schema the launch agent touches (reference §7.8), written from the
 * operations the official agent and SDK send. Types and nullability follow those documents, so
 * graphql-js validation rejects what the real server rejects: unknown fields or arguments,
 * variables of the wrong type, missing required inputs.
 */
export const WANDB_SDL = /* GraphQL */ `
scalar JSON
scalar JSONString
scalar DateTime

enum RunQueueAccessType { PROJECT USER }
enum ArtifactState { PENDING COMMITTED DELETED }

type Query {
  viewer: User
  project(name: String, entityName: String): Project
  entity(name: String!): Entity
  launchAgent(id: ID!): LaunchAgent
  artifact(id: ID!): Artifact
}

type User {
  id: ID!
  entity: String
  username: String
  email: String
  flags: JSONString
  teams: EntityConnection
}

type EntityConnection { edges: [EntityEdge!]! }
type EntityEdge { node: Entity }

type Entity {
  id: ID!
  name: String!
  isTeam: Boolean!
}

type Project {
  id: ID!
  internalId: ID
  name: String!
  entity: Entity!
  runQueues: [RunQueue!]!
  run(name: String!): Run
  artifactCollectionMembership(name: String!): ArtifactCollectionMembership
  artifactCollection(name: String!): ArtifactCollection
  sweep(sweepName: String!): Sweep
}

type Sweep {
  id: ID!
  name: String!
  state: String!
  displayName: String
  project: Project
}

type RunQueue {
  id: ID!
  name: String!
  createdBy: Int
  access: RunQueueAccessType!
}

type Run {
  id: ID!
  name: String!
  displayName: String
  description: String
  config: JSONString
  sweepName: String
  project: Project
  historyLineCount: Int
  state: String
  stopped: Boolean
}

type LaunchAgent {
  id: ID!
  name: String!
  runQueues: [ID!]!
  hostname: String!
  agentStatus: String
  stopPolling: Boolean!
  heartbeatAt: DateTime
}

type ArtifactType { id: ID! name: String! }
type ArtifactAlias { id: ID! alias: String! }

type ArtifactCollection {
  id: ID!
  name: String!
  project: Project
  artifactMembership(aliasName: String!): ArtifactCollectionMembership
}

type ArtifactSequence {
  id: ID!
  name: String!
  project: Project
}

type ArtifactCollectionMembership {
  id: ID!
  versionIndex: Int
  aliases: [ArtifactAlias!]!
  artifactCollection: ArtifactCollection
  artifact: Artifact
  files(names: [String!], after: String, first: Int): FileConnection!
}

type Artifact {
  id: ID!
  versionIndex: Int
  state: ArtifactState!
  digest: String!
  size: Int
  description: String
  artifactType: ArtifactType!
  artifactSequence: ArtifactSequence!
  aliases: [ArtifactAlias!]!
  currentManifest: ArtifactManifest
}

type ArtifactManifest { id: ID! file: File! }
type File { id: ID! name: String! displayName: String directUrl: String! uploadUrl: String }
type FileConnection { pageInfo: PageInfo! edges: [FileEdge!]! }
type FileEdge { node: File cursor: String }
type PageInfo { endCursor: String hasNextPage: Boolean! }

input CreateRunQueueInput {
  entityName: String!
  projectName: String!
  queueName: String!
  access: RunQueueAccessType!
  prioritizationMode: String
  defaultResourceConfigID: ID
}
type CreateRunQueuePayload { success: Boolean! queueID: ID }

input CreateLaunchAgentInput {
  entityName: String!
  projectName: String!
  runQueues: [ID!]!
  hostname: String!
  agentConfig: JSONString
  version: String
}
type CreateLaunchAgentPayload { launchAgentId: ID! }

input UpdateLaunchAgentInput { launchAgentId: ID! agentStatus: String }
type UpdateLaunchAgentPayload { success: Boolean! }

input PopFromRunQueueInput {
  entityName: String!
  projectName: String!
  queueName: String!
  launchAgentId: ID
}
type PopFromRunQueuePayload { runQueueItemId: ID runSpec: JSON }

input AckRunQueueItemInput { runQueueItemId: ID! runName: String! }
type AckRunQueueItemPayload { success: Boolean! }

input FailRunQueueItemInput { runQueueItemId: ID! message: String! stage: String! filePaths: [String!] }
type FailRunQueueItemPayload { success: Boolean! }

input UpdateRunQueueItemWarningInput { runQueueItemId: ID! message: String! stage: String! filePaths: [String!] }
type UpdateRunQueueItemWarningPayload { success: Boolean! }

input PushToRunQueueByNameInput {
  entityName: String!
  projectName: String!
  queueName: String!
  runSpec: JSONString!
  priority: Int
  templateVariableValues: JSONString
}
type PushToRunQueueByNamePayload { runQueueItemId: ID! runSpec: JSONString }

input UpsertBucketInput {
  id: String
  name: String
  groupName: String
  modelName: String
  entityName: String
  description: String
  displayName: String
  notes: String
  config: JSONString
  commit: String
  host: String
  debug: Boolean
  jobProgram: String
  jobRepo: String
  jobType: String
  state: String
  sweep: String
  tags: [String!]
  summaryMetrics: JSONString
}
type UpsertBucketPayload { bucket: Run inserted: Boolean }

input UpsertSweepInput {
  id: ID
  config: String
  description: String
  entityName: String
  projectName: String
  controller: JSONString
  launchScheduler: JSONString
  templateVariableValues: JSONString
  scheduler: JSONString
  state: String
  priorRunsFilters: JSONString
  displayName: String
}
type UpsertSweepPayload { sweep: Sweep configValidationWarnings: [String!]! inserted: Boolean }

input CreateRunFilesInput { entityName: String! projectName: String! runName: String! files: [String!]! }
type CreateRunFilesPayload { runID: ID! uploadHeaders: [String!]! files: [File!]! }

input MarkRunFilesUploadedInput { entityName: String! projectName: String! runName: String! files: [String!]! }
type MarkRunFilesUploadedPayload { success: Boolean! }

type Mutation {
  createRunQueue(input: CreateRunQueueInput!): CreateRunQueuePayload
  createLaunchAgent(input: CreateLaunchAgentInput!): CreateLaunchAgentPayload
  updateLaunchAgent(input: UpdateLaunchAgentInput!): UpdateLaunchAgentPayload
  popFromRunQueue(input: PopFromRunQueueInput!): PopFromRunQueuePayload
  ackRunQueueItem(input: AckRunQueueItemInput!): AckRunQueueItemPayload
  failRunQueueItem(input: FailRunQueueItemInput!): FailRunQueueItemPayload
  updateRunQueueItemWarning(input: UpdateRunQueueItemWarningInput!): UpdateRunQueueItemWarningPayload
  pushToRunQueueByName(input: PushToRunQueueByNameInput!): PushToRunQueueByNamePayload
  upsertBucket(input: UpsertBucketInput!): UpsertBucketPayload
  upsertSweep(input: UpsertSweepInput!): UpsertSweepPayload
  createRunFiles(input: CreateRunFilesInput!): CreateRunFilesPayload
  markRunFilesUploaded(input: MarkRunFilesUploadedInput!): MarkRunFilesUploadedPayload
}
`;

/**
 * Operations the agent may send, with exactly the variables each declares (reference §7.8, and the
 * SDK's artifact queries); a trailing `?` marks a variable the official client may leave out. `UpsertBucket` is what `wandb.init` sends; test jobs use it to create
 * their run. Anything else is rejected: it would mean the agent speaks a dialect W&B does not.
 */
export const ALLOWED_OPERATIONS: Readonly<Record<string, { kind: "query" | "mutation"; variables: readonly string[] }>> = {
  Viewer: { kind: "query", variables: [] },
  ProjectRunQueues: { kind: "query", variables: ["entity", "projectName"] },
  CreateRunQueue: { kind: "mutation", variables: ["entity", "project", "queueName", "access"] },
  createLaunchAgent: { kind: "mutation", variables: ["entity", "project", "queues", "hostname", "agentConfig", "version"] },
  EntityIsTeam: { kind: "query", variables: ["entity"] },
  LaunchAgent: { kind: "query", variables: ["agentId"] },
  updateLaunchAgent: { kind: "mutation", variables: ["agentId", "agentStatus"] },
  popFromRunQueue: { kind: "mutation", variables: ["entity", "project", "queueName", "launchAgentId"] },
  ackRunQueueItem: { kind: "mutation", variables: ["itemId", "runId"] },
  RunState: { kind: "query", variables: ["project", "entity", "name"] },
  RunStoppedStatus: { kind: "query", variables: ["projectName", "entityName", "runId"] },
  failRunQueueItem: { kind: "mutation", variables: ["runQueueItemId", "message", "stage", "filePaths?"] },
  updateRunQueueItemWarning: { kind: "mutation", variables: ["runQueueItemId", "message", "stage", "filePaths?"] },
  pushToRunQueueByName: { kind: "mutation", variables: ["entityName", "projectName", "queueName", "runSpec", "priority?", "templateVariableValues?"] },
  ArtifactMembershipByName: { kind: "query", variables: ["entity", "project", "name"] },
  ArtifactByID: { kind: "query", variables: ["id"] },
  FetchArtifactManifest: { kind: "query", variables: ["id"] },
  ArtifactMembershipFiles: { kind: "query", variables: ["entity", "project", "collection", "alias", "fileNames?", "cursor?", "perPage?"] },
  GetArtifactMembershipFileUrls: { kind: "query", variables: ["entity", "project", "collection", "alias", "cursor?", "perPage?"] },
  // wandb-core's run upsert declares all of these; runs and the agent send a few.
  UpsertBucket: {
    kind: "mutation",
    variables: ["name", "project", "entity", "id?", "groupName?", "description?", "displayName?", "notes?", "commit?", "config?", "host?", "debug?", "program?", "repo?", "jobType?", "state?", "sweep?", "tags?", "summaryMetrics?"],
  },
  CreateRunFiles: { kind: "mutation", variables: ["entity", "project", "run", "files"] },
  MarkRunFilesUploaded: { kind: "mutation", variables: ["entity", "project", "run", "files"] },
  GetSweepState: { kind: "query", variables: ["entity", "project", "sweep"] },
  UpsertSweep: { kind: "mutation", variables: ["id", "state", "entityName", "projectName"] },
};
