"""What the Ray Data examples share: the actor pool's command-line settings, the cluster, and the
`map_batches` stage that runs a callable class with one distil.Engine per actor.

The class's constructor takes `model` and `threads` (the actor's CPUs, so that its engine uses
them and no more) besides its own keyword arguments; batches come as pyarrow Tables.
"""

import argparse

import ray


def add_arguments(parser: argparse.ArgumentParser, batch_size: int) -> None:
    """--model, and the pool's --actors, --num-cpus, --batch-size and --cluster-cpus."""
    parser.add_argument("--model", required=True, help="a model directory or hub id")
    parser.add_argument("--actors", type=int, default=2, help="engines (Ray actors)")
    parser.add_argument("--num-cpus", type=float, default=1, help="CPUs per actor")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="rows per call")
    parser.add_argument("--cluster-cpus", type=int, default=None, help="CPUs of a local cluster")


def start_ray(args: argparse.Namespace) -> None:
    """The cluster of RAY_ADDRESS, or a local one of --cluster-cpus CPUs."""
    ray.init(num_cpus=args.cluster_cpus, ignore_reinit_error=True, log_to_driver=False)


def map_with_engines(ds, cls, args: argparse.Namespace, **kwargs):
    """`ds` through a pool of --actors instances of `cls`, each given --num-cpus CPUs and batches
    of --batch-size rows. Stages before and after should ask for no CPU (`num_cpus=0`): the
    actors hold the CPUs, and a stage waiting for one they hold would wait for ever."""
    return ds.map_batches(
        cls,
        fn_constructor_kwargs={
            "model": args.model,
            "threads": max(1, int(args.num_cpus)),
            **kwargs,
        },
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=args.num_cpus,
        batch_size=args.batch_size,
        batch_format="pyarrow",
    )
