"""Starting a device group: its slots and hub, its actors (by the supervisor), its core."""

from __future__ import annotations

from blerun.actors._device_core import DeviceCore
from blerun.actors._wiring import DeviceOptions, RuntimeParts, Supervision, group_spec
from blerun.messages import Role, StartGroup


def start_group(
    options: DeviceOptions, parts: RuntimeParts, rules: Supervision, default_timeout: float
) -> DeviceCore:
    """Open the group's slots and hub, ask the supervisor to start its actors, and return
    the core its facades share. Calls made before the actors run wait in their slots."""
    device, router = options.device, parts.router
    hub = router.open_group(device)
    request_id, started = router.request()
    spec = group_spec(options, hub, parts, rules)
    router.slot_for(None, Role.SUPERVISOR).tell(StartGroup(request_id=request_id, spec=spec))
    return DeviceCore(
        options=options,
        hub=hub,
        router=router,
        bridge=parts.bridge,
        lane=parts.lanes.lane(str(device), device.address),
        started=started,
        default_timeout=default_timeout,
    )
