"""Fail early and clearly where the ``sim`` extra (Bumble) is not installed."""

try:
    import bumble  # noqa: F401
except ImportError as missing:  # tests/sim/test_sim_lifecycle.py checks it in a subprocess
    raise ImportError(
        'blerun.sim needs Bumble, which the "sim" extra installs: pip install "blerun[sim]"',
        name="bumble",
    ) from missing
