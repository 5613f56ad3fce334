"""Settings profiles of the local, devnet and mainnet-beta environments."""

from config.errors import ProfileError
from config.profiles import default_config_dir, load_settings
from config.settings import ENVIRONMENTS, Settings

__all__ = [
    "ENVIRONMENTS",
    "ProfileError",
    "Settings",
    "default_config_dir",
    "load_settings",
]
