"""The ``blerun`` command: scan, inspect, read, write and monitor BLE devices; run the demo.

::

    blerun scan                                  # what is advertising nearby
    blerun services AA:BB:CC:DD:EE:FF            # its GATT table
    blerun read AA:BB:CC:DD:EE:FF 2a19           # one value
    blerun write AA:BB:CC:DD:EE:FF 2a39 01       # one write
    blerun monitor AA:BB:CC:DD:EE:FF --notify 2a37
    blerun demo                                  # emulated devices, a hostile radio

Installed as the ``blerun`` script and as ``python -m blerun``. Every verb that talks to
a device takes ``--sim`` (an emulated device at that address) and ``--json``.
"""

from blerun.cli._app import main
from blerun.cli._exit import ExitCode

__all__ = ["ExitCode", "main"]
