"""The app as an MCP server: three session-free tools an agent can chain (calibrate → enhance → blend).

Over MCP's streamable HTTP transport (the ``mcp`` client package, as an agent's host uses it):
the schema lists the tools with their descriptions and argument descriptions, and a calibration
file returned by one tool is the input of the next.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import urllib.request
import zipfile

import numpy as np
import pytest
from conftest import pixel_demo, serve
from PIL import Image

from webui.services import Services
from webui.settings import Settings

TOOLS = ("dot_calibrate", "dot_enhance", "dot_blend")


def data_uri(path: str, kind: str = "image/png") -> str:
    with open(path, "rb") as f:
        return f"data:{kind};base64," + base64.b64encode(f.read()).decode()


def zipped(paths: list[str], folder) -> str:
    archive = folder / f"set{len(list(folder.iterdir()))}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in paths:
            z.write(p, f"photos/{os.path.basename(p)}")
        z.writestr("photos/readme.txt", "not an image: skipped")
    return data_uri(str(archive), "application/zip")


@pytest.fixture(scope="module")
def mcp_url():
    settings = Settings()
    assert settings.mcp_server  # on by default
    with serve(pixel_demo(Services.create(settings)), settings, mcp_server=settings.mcp_server) as url:
        yield url


def test_mcp_schema_lists_the_agent_tools_with_descriptions(mcp_url):
    schema = {t["name"]: t for t in json.load(urllib.request.urlopen(mcp_url + "gradio_api/mcp/schema"))}
    for name in TOOLS:
        assert name in schema, sorted(schema)
        assert "eq. 4" in schema[name]["description"] or "eq. 2" in schema[name]["description"]
    props = schema["dot_calibrate"]["inputSchema"]["properties"]
    assert list(props)[:2] == ["restored", "clean"]
    assert "restoration model" in props["restored"]["description"]
    assert "[-1, 2]" in schema["dot_enhance"]["inputSchema"]["properties"]["alpha"]["description"]
    assert "dot_calibrate" in schema["dot_enhance"]["inputSchema"]["properties"]["calibration"]["description"]


def _urls(result) -> list[str]:
    """The file URLs a tool returned (in its text content)."""
    text = " ".join(getattr(c, "text", "") or "" for c in result.content)
    return re.findall(r"https?://\S+?\.(?:safetensors|png)", text)


def test_mcp_tools_chain_calibrate_enhance_blend_over_http(mcp_url, app_images, tmp_path):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def session_calls():
        async with streamablehttp_client(mcp_url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = {t.name for t in (await session.list_tools()).tools}
                cal = await session.call_tool("dot_calibrate", {
                    "restored": zipped(app_images["restored"], tmp_path),
                    "clean": zipped(app_images["clean"], tmp_path), "encoder": "pixel", "patch_size": 3})
                assert not cal.isError, cal.content
                (cal_url,) = [u for u in _urls(cal) if u.endswith(".safetensors")]
                # Gradio fetches http(s) file arguments itself but refuses private hosts such as this
                # test's 127.0.0.1: the file goes back as data, as a local agent would send it
                cal_file = tmp_path / "calibration.safetensors"
                cal_file.write_bytes(urllib.request.urlopen(cal_url).read())
                cal_url = data_uri(str(cal_file), "application/octet-stream")
                enh = await session.call_tool("dot_enhance", {"image": data_uri(app_images["image"]),
                                                              "calibration": cal_url, "alpha": 0.0})
                assert not enh.isError, enh.content
                bad = await session.call_tool("dot_enhance", {"image": data_uri(app_images["image"]),
                                                              "calibration": cal_url, "alpha": 7})
                return listed, cal, enh, bad

    listed, cal, enh, bad = asyncio.run(session_calls())
    assert listed == set(TOOLS)  # the page's endpoints need a browser session: not tools
    assert "3 restored + 3 clean" in " ".join(getattr(c, "text", "") for c in cal.content)
    x0_urls = [u for u in _urls(enh) if u.endswith(".png")]
    assert len(x0_urls) == 2
    x0 = np.asarray(Image.open(io.BytesIO(urllib.request.urlopen(x0_urls[1]).read())).convert("RGB"), np.float64)
    upload = np.asarray(Image.open(app_images["image"]).convert("RGB"), dtype=np.float64)
    assert x0.shape == upload.shape and np.abs(x0 - upload).mean() > 0.5  # transported: not the upload
    assert all("/restored_" in u and "/file_" not in u for u in x0_urls), x0_urls  # named after what they are
    at_0 = np.asarray(Image.open(io.BytesIO(urllib.request.urlopen(x0_urls[0]).read())).convert("RGB"), np.float64)
    np.testing.assert_array_equal(at_0, x0)  # α = 0 is x̂0
    assert bad.isError and "[-1, 2]" in " ".join(getattr(c, "text", "") for c in bad.content)


def test_dot_blend_through_the_api_is_eq_4(mcp_url, app_images, tmp_path):
    from gradio_client import Client, handle_file

    x_star = np.asarray(Image.open(app_images["image"]).convert("RGB"), dtype=np.float64)
    x0 = np.asarray(Image.open(app_images["ground_truth"]).convert("RGB"), dtype=np.float64)
    client = Client(mcp_url, verbose=False)
    out = client.predict(handle_file(app_images["image"]), handle_file(app_images["ground_truth"]), 0.25,
                         api_name="/dot_blend")
    got = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
    np.testing.assert_allclose(got, np.clip(0.25 * x_star + 0.75 * x0, 0, 255), atol=1.0)
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="own transported"):
        client.predict(handle_file(app_images["image"]), handle_file(app_images["clean"][0]), 0.5,
                       api_name="/dot_blend")


def test_unpack_images_takes_the_images_of_a_zip_under_fresh_names_and_refuses_the_rest(tmp_path, app_images):
    from webui.mcp_tools import unpack_images

    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(app_images["clean"][1], "../../escape/b.png")  # a hostile path: only its name part is used
        z.write(app_images["clean"][0], "a.png")
        z.writestr("notes.txt", "skipped")
        z.writestr("__MACOSX/._a.png", "resource fork, skipped")
    got = unpack_images(str(archive), most=5)
    assert [os.path.basename(p) for p in got] == ["a.png", "b.png"]  # sorted by name, names kept (mode auto pairs)
    assert [os.path.basename(os.path.dirname(p)) for p in got] == ["000", "001"]  # a numbered folder each
    assert all(os.path.dirname(os.path.dirname(p)) == os.path.dirname(os.path.dirname(got[0])) and "escape" not in p
               for p in got)
    assert open(got[0], "rb").read() == open(app_images["clean"][0], "rb").read()
    assert unpack_images(app_images["image"], most=5) == [app_images["image"]]  # one image as is
    assert unpack_images(None, most=5) == []
    with pytest.raises(Exception, match="at most 1 per set"):
        unpack_images(str(archive), most=1)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.md", "no images")
    with pytest.raises(Exception, match="holds no images"):
        unpack_images(str(empty), most=5)


def test_dot_calibrate_takes_a_preset_alone_and_says_how_to_send_large_files(mcp_url):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    schema = {t["name"]: t for t in json.load(urllib.request.urlopen(mcp_url + "gradio_api/mcp/schema"))}
    required = schema["dot_calibrate"]["inputSchema"].get("required", [])
    assert "restored" not in required and "clean" not in required
    for name in TOOLS:
        assert "gradio_api/upload" in schema[name]["description"] or "see dot_calibrate" in schema[name]["description"]

    async def call():
        async with streamablehttp_client(mcp_url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("dot_calibrate", {"preset": "sr-bicubic-x4", "encoder": "pixel"})

    cal = asyncio.run(call())
    assert not cal.isError, cal.content
    assert any(u.endswith(".safetensors") for u in _urls(cal))


def test_a_damaged_zip_is_a_message_not_a_server_error(tmp_path, app_images):
    from webui.mcp_tools import unpack_images

    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as z:
        z.write(app_images["clean"][0], "a.png")
    raw = bytearray(archive.read_bytes())
    raw[200] ^= 0xFF  # inside a.png's stored bytes: its CRC no longer matches
    archive.write_bytes(bytes(raw))
    with pytest.raises(Exception, match="set.zip is a damaged or unsupported zip .*CRC") as caught:
        unpack_images(str(archive), most=5)
    assert type(caught.value).__name__ == "Error"  # gr.Error: shown to the caller as is
