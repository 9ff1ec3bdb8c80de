"""Limits checked from a file's header before decoding, and extensions that lie."""

import logging

import numpy as np
import pytest
import soundfile
from PIL import Image

from mmlm.data import media_checks
from mmlm.data.errors import MediaFileError
from mmlm.data.example_files import read_audio_file, read_image_file
from mmlm.data.media_checks import MediaLimitError, MediaLimits
from mmlm.testing.media import bomb_png, image_bytes


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb_png())  # 12000 x 12000
    return path


def test_bomb_is_refused_from_its_header(bomb):
    assert bomb.stat().st_size < 50_000
    with pytest.raises(MediaLimitError) as raised:
        media_checks.open_image(bomb, max_pixels=40_000_000)
    assert raised.value.reason == "image_too_large"
    assert "12000 x 12000 = 144,000,000 pixels, over the limit of 40,000,000" in str(raised.value)
    assert "data.image.max_pixels" in str(raised.value)


def test_pillows_bomb_warning_is_an_error(tmp_path):
    # 10000 x 10000 is past Pillow's MAX_IMAGE_PIXELS (89 Mpx), where it only warns.
    path = tmp_path / "warned.png"
    path.write_bytes(bomb_png(10000, 10000))
    with pytest.raises(MediaLimitError, match="image_too_large: Pillow refuses it"):
        media_checks.open_image(path, max_pixels=10**9)


def test_images_within_the_limit_open(tmp_path):
    path = tmp_path / "small.png"
    path.write_bytes(image_bytes("PNG", size=(7, 5)))
    with media_checks.open_image(path, max_pixels=35) as image:
        assert image.size == (7, 5)
    with pytest.raises(MediaLimitError, match="7 x 5 = 35 pixels, over the limit of 34"):
        media_checks.open_image(path, max_pixels=34)


def test_text_and_audio_limits():
    media_checks.check_text_size("é" * 500, max_bytes=1000)
    with pytest.raises(MediaLimitError, match="text_too_long: 1,002 bytes of UTF-8"):
        media_checks.check_text_size("é" * 501, max_bytes=1000)
    media_checks.check_audio_duration(16000, 16000, max_seconds=1.0)
    with pytest.raises(MediaLimitError, match=r"audio_too_long: 1\.0 s \(16,001 frames"):
        media_checks.check_audio_duration(16001, 16000, max_seconds=1.0)
    with pytest.raises(ValueError, match="max_pixels must be positive"):
        MediaLimits(max_pixels=0)


def test_extension_mismatch():
    assert media_checks.image_extension_mismatch("a.png", "PNG") is None
    assert media_checks.image_extension_mismatch("a.JPG", "JPEG") is None
    assert media_checks.image_extension_mismatch("a.jpg", "MPO") is None  # a JPEG variant
    assert media_checks.image_extension_mismatch("a.data", "PNG") is None  # unknown: unchecked
    assert media_checks.image_extension_mismatch("a.png", "JPEG") == (
        "the file is named .png but holds JPEG data; it was decoded as JPEG"
    )
    assert media_checks.audio_extension_mismatch("a.wav", "WAVEX") is None
    assert "named .ogg but holds FLAC" in media_checks.audio_extension_mismatch("a.ogg", "FLAC")


def test_read_image_file_refuses_a_bomb_and_reads_by_content(bomb, tmp_path, caplog):
    with pytest.raises(MediaFileError, match="bomb.png: image_too_large: 12000 x 12000"):
        read_image_file(bomb)
    named_png = tmp_path / "photo.png"
    named_png.write_bytes(image_bytes("JPEG", size=(8, 6), colour=(250, 250, 250)))
    with caplog.at_level(logging.WARNING):
        pixels = read_image_file(named_png)
    assert pixels.shape == (6, 8, 3) and pixels.min() > 240
    assert "extension_mismatch" in caplog.text and "holds JPEG data" in caplog.text


def test_read_audio_file_refuses_audio_over_the_limit(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.zeros(16000, np.float32), 16000)  # 1 s
    assert read_audio_file(path, 16000, max_seconds=1.0).shape == (16000,)
    with pytest.raises(MediaFileError, match="tone.wav: audio_too_long: 1.0 s"):
        read_audio_file(path, 16000, max_seconds=0.5)


def test_a_grayscale_image_still_reads_as_rgb(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (4, 3), 9).save(path)
    np.testing.assert_array_equal(read_image_file(path), np.full((3, 4, 3), 9, np.uint8))
