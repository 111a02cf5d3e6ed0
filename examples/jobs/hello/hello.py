"""A tiny training-shaped job: reads its run config from the launch environment and 'trains' a few steps."""
import argparse
import json
import os
import time

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=3)
args = parser.parse_args()

config = json.loads(os.environ.get("WANDB_CONFIG", "{}"))
print(f"hello from run {os.environ.get('WANDB_RUN_ID')} on queue {os.environ.get('WANDB_LAUNCH_QUEUE_NAME')}")
print(f"run config: {config}")
loss = 1.0
for step in range(args.steps):
    loss *= 0.5
    print(f"step {step + 1}/{args.steps} loss={loss:.4f}")
    time.sleep(0.1)
print("done")
