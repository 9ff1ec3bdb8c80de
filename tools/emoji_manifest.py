"""Emoji as a real data set for mmlm: a manifest of image + caption + speech + class label.

Sources, all Debian packages: fonts-noto-color-emoji (NotoColorEmoji.ttf, Emoji 15.0 colour
bitmaps), unicode-data (/usr/share/unicode/emoji/emoji-test.txt, Unicode 15.0: each emoji's
group, qualification and CLDR name), espeak-ng (speech) and libfribidi0 (lets Pillow's raqm
layout join ZWJ sequences, flags and keycaps into one glyph). A row is one fully-qualified emoji
without its skin-tone and hair-style variants (the "Component" group has none):
  text   its CLDR name: "grinning face with smiling eyes", "flag: Germany", "red apple"
  image  the glyph centred on white, a --image-size PNG
  audio  espeak-ng speaking the name: 22,050 Hz WAV, seeded voice en-us+m1..m7/f1..f5, 140-190 wpm
  label  its Unicode group: "Smileys & Emotion", "People & Body", ..., "Flags"
  split  a seeded random --test-fraction is "test", the rest "train" (mmlm carves validation
         out of train)
Glyphs drawn blank, as tofu or as more than one glyph are dropped; of glyphs with identical
pixels ("flag: Norway", "flag: Svalbard & Jan Mayen") only the shortest name is kept.

    python tools/emoji_manifest.py --out data/emoji [--limit N] [--image-size 64] \
        [--test-fraction 0.15] [--seed 0]
"""

import argparse
import collections
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFont, features

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
VARIANTS = [f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 6)]
MODIFIERS = set(range(0x1F3FB, 0x1F400)) | set(range(0x1F9B0, 0x1F9B4))  # skin tones, hair


def require(found, what, package):
    if not found:
        sys.exit(f"emoji_manifest: {what} is missing; it comes with the Debian package "
                 f"{package}: apt-get install -y {package}")


def read_emoji(path):
    """[(code points, name, group)] of the fully-qualified emoji without skin tone or hair."""
    group, emoji = None, []
    with open(path, encoding="utf-8") as lines:
        for line in lines:  # "# group: Flags" or "1F600 ; fully-qualified # 😀 E1.0 grinning face"
            if line.startswith("# group:"):
                group = line.split(":", 1)[1].strip()
            elif line.strip() and not line.startswith("#"):
                codes, status, comment = line.replace("#", ";", 1).split(";", 2)
                points = [int(code, 16) for code in codes.split()]
                if status.strip() == "fully-qualified" and not MODIFIERS & set(points):
                    emoji.append((points, comment.split(maxsplit=2)[2].strip(), group))
    return emoji


def draw(font, text):
    """The text drawn on a transparent canvas, cropped to its ink (None if there is none)."""
    canvas = Image.new("RGBA", (2 * font.size, 2 * font.size), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((font.size,) * 2, text, font=font, embedded_color=True, anchor="mm")
    box = canvas.getchannel("A").getbbox()
    return canvas.crop(box) if box else None


def render_all(emoji, font):
    """{index: glyph} of the emoji drawn as one visible glyph, without pixel duplicates."""
    advance, tofu = round(font.getlength("\U0001f600")), draw(font, "\uffff")
    glyphs, unrenderable, same_pixels = {}, [], collections.defaultdict(list)
    for index, (points, name, _) in enumerate(emoji):
        text = "".join(map(chr, points))
        glyph = draw(font, text) if round(font.getlength(text)) == advance else None
        if glyph is None or (tofu is not None and glyph.tobytes() == tofu.tobytes()):
            unrenderable.append(name)
        else:
            glyphs[index] = glyph
            same_pixels[glyph.size, glyph.tobytes()].append(index)
    duplicates = {}  # dropped name -> kept name
    for indices in same_pixels.values():
        keep = min(indices, key=lambda i: len(emoji[i][1]))
        duplicates.update({emoji[i][1]: emoji[keep][1] for i in indices if i != keep})
        for i in indices:
            if i != keep:
                del glyphs[i]
    return glyphs, unrenderable, duplicates


def save_image(glyph, size, path):
    side = int(max(glyph.size) * 1.1)  # a thin white margin; the aspect ratio is kept
    square = Image.new("RGBA", (side, side), "white")
    square.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    square.convert("RGB").resize((size, size), Image.LANCZOS).save(path)


def speak(text, voice, speed, path):  # the text goes through stdin: never read as an option
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", path],
                   input=text.encode("utf-8"), capture_output=True, check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for manifest.jsonl, images/, audio/")
    parser.add_argument("--limit", type=int, help="keep N emoji, spread evenly over the groups")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    require(os.path.isfile(FONT), FONT, "fonts-noto-color-emoji")
    require(os.path.isfile(EMOJI_TEST), EMOJI_TEST, "unicode-data")
    require(shutil.which("espeak-ng"), "the espeak-ng program", "espeak-ng")
    require(features.check("raqm"), "Pillow's text layout raqm (needs libfribidi)", "libfribidi0")

    emoji = read_emoji(EMOJI_TEST)
    font = ImageFont.truetype(FONT, 109, layout_engine=ImageFont.Layout.RAQM)  # its bitmap size
    glyphs, unrenderable, duplicates = render_all(emoji, font)
    kept = sorted(glyphs)
    if args.limit and args.limit < len(kept):
        kept = [kept[i * len(kept) // args.limit] for i in range(args.limit)]
    rng = random.Random(args.seed)
    test = set(rng.sample(kept, min(len(kept) - 1, max(1, round(args.test_fraction * len(kept))))))
    for folder in ("images", "audio"):
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)
    rows, jobs = [], []
    for index in kept:
        points, name, group = emoji[index]
        key = "-".join(f"{point:04x}" for point in points)
        save_image(glyphs[index], args.image_size, os.path.join(args.out, "images", key + ".png"))
        voice, speed = f"en-us+{rng.choice(VARIANTS)}", rng.randint(140, 190)
        jobs.append((name, voice, speed, os.path.join(args.out, "audio", key + ".wav")))
        rows.append({"id": key, "text": name, "image": f"images/{key}.png",
                     "audio": f"audio/{key}.wav", "label": group,
                     "split": "test" if index in test else "train"})
    assert len({row["text"] for row in rows}) == len(rows), "the captions are not unique"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(speak, *zip(*jobs)))
    with open(os.path.join(args.out, "manifest.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    summary = {key: dict(collections.Counter(row[key] for row in rows))
               for key in ("split", "label")}
    summary.update(rows=len(rows), unrenderable=unrenderable, duplicate_images=duplicates)
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, ensure_ascii=False, indent=1)
    print(f"{len(rows)} of {len(emoji)} emoji ({len(unrenderable)} unrenderable and "
          f"{len(duplicates)} duplicate images dropped) -> {args.out}/manifest.jsonl")
    for key in ("split", "label"):
        print(f"{key}: " + ", ".join(f"{name} {count}" for name, count in summary[key].items()))


if __name__ == "__main__":
    main()
