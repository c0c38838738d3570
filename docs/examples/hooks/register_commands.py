"""A command of one's own: ``sluicegate aliases [--config gateway.toml]`` prints each alias of a
config with its targets, one line each. A bad config is the core's to report (``ConfigError``:
every problem listed, exit 1)."""

from sluicegate import hookimpl
from sluicegate.config.loader import load_config


def print_aliases(args):
    config = load_config(args.config).config
    for alias, model in config.models.items():
        print(f"{alias} -> {', '.join(model.targets)}")
    return 0


@hookimpl
def register_commands(commands):
    parser = commands.add_parser("aliases", help="list a config's aliases and their targets")
    parser.add_argument("--config", default="gateway.toml", help="config file (default ./gateway.toml)")
    parser.set_defaults(run=print_aliases)
