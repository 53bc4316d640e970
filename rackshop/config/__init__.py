"""The configuration: a TOML file, declared once as a schema, turned into frozen dataclasses.

One file describes the Rackbeat account and every Shopify shop (see ``examples/config.toml`` and
``docs/config.md``). The package, by concern:

- :mod:`.values`: constants, allowed values (``Literal`` types), :class:`Secret`,
  :class:`FrozenMap`.
- :mod:`.schema`: every table and key with its type, default, range and description (pydantic).
- :mod:`.fields`: the value types the schema uses (URLs, dates, location maps, ...).
- :mod:`.validate`, :mod:`.tree`, :mod:`.messages`, :mod:`.checks`: validation table by table
  into a tree of tables, pydantic's errors reworded with key paths and did-you-mean, the rules
  between keys and the warnings.
- :mod:`.secrets`: ``{ env = ... }`` / ``{ file = ... }`` references read into :class:`Secret`.
- :mod:`.objects`, :mod:`.build`: the frozen dataclasses every job reads, built in one place.
- :mod:`.files`: finding, loading and writing the file.
- :mod:`.docs`: the key tables of ``docs/config.md``, the JSON Schema, ``config show``.

This package's face is what the rest of rackshop imports: the dataclasses, loading and writing,
and the few values callers use; the allowed values (``Literal`` types) and the other constants
are imported from :mod:`.values`, where they are declared.

Secrets are never written in the file. A secret key holds a reference; the value is read at load
time, wrapped in a :class:`Secret` (whose repr is ``Secret('***')``) and registered with
:mod:`rackshop.redact` so it is masked wherever it might be logged.
"""

from rackshop.config.files import (
    default_state_path,
    default_user_config_path,
    find_config_path,
    load_config,
    validate_dict,
    write_config,
)
from rackshop.config.messages import TABLE_KEYS
from rackshop.config.objects import (
    Config,
    CustomerDefaults,
    FulfillmentsConfig,
    HttpConfig,
    InitialConfig,
    ListenConfig,
    LogConfig,
    OrdersConfig,
    ProductsConfig,
    RackbeatConfig,
    ShopConfig,
    StateConfig,
    StockConfig,
    StockTarget,
)
from rackshop.config.values import (
    CONFIG_ENV_VAR,
    DEFAULT_RACKBEAT_URL,
    FrozenMap,
    Secret,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_RACKBEAT_URL",
    "TABLE_KEYS",
    "Config",
    "CustomerDefaults",
    "FrozenMap",
    "FulfillmentsConfig",
    "HttpConfig",
    "InitialConfig",
    "ListenConfig",
    "LogConfig",
    "OrdersConfig",
    "ProductsConfig",
    "RackbeatConfig",
    "Secret",
    "ShopConfig",
    "StateConfig",
    "StockConfig",
    "StockTarget",
    "default_state_path",
    "default_user_config_path",
    "find_config_path",
    "load_config",
    "validate_dict",
    "write_config",
]
