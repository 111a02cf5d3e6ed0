"""A minimal training script for a code job: the agent builds its image from a generated Dockerfile."""
import argparse
import os

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.01)
args = parser.parse_args()

with wandb.init(config=vars(args)) as run:
    loss = 1.0
    for epoch in range(run.config.epochs):
        loss *= 1 - run.config.lr * 10
        run.log({"epoch": epoch, "loss": loss})
    print(f"run {os.environ.get('WANDB_RUN_ID')} finished, loss {loss:.4f}")
