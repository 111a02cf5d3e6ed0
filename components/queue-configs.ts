// Queue configs (the `resource_args` a W&B queue holds) for the managed runners the environments can grant:
// a starting point wired to what the stack created, shown in the generated launch-config.yaml and in the
// stack outputs. Pure; the tests feed them to the agent's own request builders.

export interface SageMakerQueueInputs {
  executionRoleArn: string;
  /** `s3://<bucket>/sagemaker-output` */
  outputPath: string;
}

/** `resource: sagemaker` queue config: the execution role and output path the stack made, a small default instance. */
export function sageMakerQueueConfig(i: SageMakerQueueInputs): Record<string, unknown> {
  return {
    sagemaker: {
      RoleArn: i.executionRoleArn,
      OutputDataConfig: { S3OutputPath: i.outputPath },
      ResourceConfig: { InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 10 },
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
    },
  };
}

export interface VertexQueueInputs {
  /** The jobs' service account email (the agent may act as this one only). */
  serviceAccount: string;
  /** `gs://<bucket>/vertex-staging` */
  stagingBucket: string;
}

/** `resource: vertex` queue config: the run's image through `${image_uri}`, the jobs' service account and staging bucket. */
export function vertexQueueConfig(i: VertexQueueInputs): Record<string, unknown> {
  return {
    vertex: {
      spec: {
        worker_pool_specs: [{ machine_spec: { machine_type: "n1-standard-4" }, replica_count: 1, container_spec: { image_uri: "${image_uri}" } }],
        staging_bucket: i.stagingBucket,
      },
      run: { service_account: i.serviceAccount, restart_job_on_worker_restart: false },
    },
  };
}
