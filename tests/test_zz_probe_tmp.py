import gc
from tests.test_janus import *  # noqa

async def test_probe(hass, janus, mqtt_mock, freezer, caplog):
    hub = janus.runtime_data
    await status(hass, SERVER, "online")
    await advance(hass, freezer, 10)
    await wait_request(mqtt_mock, SERVER, "info", 1)
    assert await hass.config_entries.async_unload(janus.entry_id)
    await settle(hass)
    gc.collect()
    await settle(hass)
    print("LOG", [r.getMessage()[:100] for r in caplog.records if r.levelname == "ERROR"])
