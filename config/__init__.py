"""Settings profiles of the local, devnet and mainnet-beta environments."""

from config.errors import ProfileError, SecretError
from config.profiles import default_config_dir, load_settings
from config.settings import ENVIRONMENTS, Settings

__all__ = [
    "ENVIRONMENTS",
    "ProfileError",
    "SecretError",
    "Settings",
    "default_config_dir",
    "load_settings",
]
