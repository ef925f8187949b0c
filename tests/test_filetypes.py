"""Messages about files that are not what their name says name what the file is and what to do
(issue 14, point 13): a web page or text saved as .jpg, random bytes named .safetensors."""
from __future__ import annotations

import io
import os
import zipfile

import pytest

from explorer import weights

from explorer.data import filetypes

from explorer.data import images

HTML = b"<!DOCTYPE html>\n<html><head><title>Cat</title></head><body><img src=cat.jpg></body>"


@pytest.mark.parametrize("data, kind", [
    (HTML, "an HTML page"),
    (b"just some notes\n" * 20, "a text file"),
    (b'{"weights": [1, 2, 3]}', "a JSON text file"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG drawing"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "a PDF document"),
    (os.urandom(2048).replace(b"\x80", b"\x81").lstrip(b"\x89\xff\x1fPGM7R\x7f\x93") or b"\x00",
     "binary data in no format"),
])
def test_kind_of(data, kind):
    assert filetypes.kind_of(data).startswith(kind)


def test_text_or_html_named_jpg_is_called_what_it_is():
    for data, kind in ((HTML, "an HTML page"), (b"hello world\n" * 40, "a text file")):
        with pytest.raises(images.ImageLoadError) as err:
            images.read_image(data)
        message = str(err.value)
        assert message.startswith(f"It is {kind}")
        assert "not an image" in message and "Upload the picture itself" in message
        assert "text file that Pillow can read" not in message


def test_random_bytes_named_safetensors_are_not_told_to_upload_safetensors():
    data = b"\x00\x01" + os.urandom(4096)  # neither header: not safetensors, not a pickle
    with pytest.raises(weights.WeightsError) as err:
        weights.load_state_dict_bytes(data)
    message = str(err.value)
    assert message.startswith("The checkpoint is binary data in no format the explorer knows")
    assert "neither a PyTorch checkpoint" in message and "damaged or incomplete" in message


def test_a_zip_that_is_not_a_checkpoint_says_so():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(weights.WeightsError) as err:
        weights.load_state_dict_bytes(buf.getvalue())
    assert "checkpoint" in str(err.value)
