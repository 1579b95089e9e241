"""The colourway corpus, drawn with Pillow on demand (no binaries in git): one package design in
many colours and with several flavour bands (pictures that must never be "the same picture"), and
one of them copied the ways the web copies a picture (which must stay the same picture).

A regular and a zero-sugar cola are this: the same layout, the same text, another colour. The
design has what a real front has: a body, a darker cap, a brand oval with a wordmark, a flavour
band, nutrition boxes and a cylinder's highlight, so the grey gradients are those of a package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]

# The colourways: the body colour of one design. Red/black is regular/zero; white and silver
# differ in lightness only, red and orange in hue only: the close calls.
BODIES: dict[str, Colour] = {
    "vermelha": (200, 30, 40),
    "preta": (28, 28, 30),
    "azul": (30, 70, 170),
    "verde": (30, 140, 70),
    "amarela": (240, 205, 40),
    "branca": (246, 246, 246),
    "prata": (178, 180, 186),
    "laranja": (240, 125, 30),
    "roxa": (110, 40, 140),
}
BASE_BODY = "vermelha"
# The flavour band of the red package: the same package with another flavour is another band.
BANDS: dict[str, Colour] = {
    "dourada": (225, 185, 60),
    "verde-limao": (130, 200, 40),
    "azul-claro": (90, 170, 230),
    "roxa": (120, 50, 150),
    "branca": (245, 245, 245),
    "preta": (30, 30, 30),
}
BASE_BAND = "dourada"
SIZE = (800, 1000)  # a packshot on a white background, as shops publish them


def _shade(colour: Colour, factor: float) -> Colour:
    red, green, blue = (min(255, max(0, round(v * factor))) for v in colour)
    return red, green, blue


@dataclass(frozen=True)
class Layout:
    """Where the design puts things: another layout is another design (another product)."""

    band_top: float = 0.52
    oval_top: float = 0.24
    boxes: int = 4
    word: str = "COLA"


LAYOUTS: dict[str, Layout] = {
    "faixa-no-alto": Layout(band_top=0.44),
    "oval-embaixo": Layout(oval_top=0.62, band_top=0.46),
    "sem-tabela": Layout(boxes=0),
    "duas-caixas": Layout(boxes=2, band_top=0.66),
}


def package(
    body: Colour, band: Colour, size: tuple[int, int] = SIZE, layout: Layout = Layout()
) -> Image.Image:
    """The design: everything but `body` and `band` is fixed, so only colour tells two apart."""
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = width * 0.22, width * 0.78, height * 0.06, height * 0.94
    draw.rounded_rectangle((left, top, right, bottom), radius=width * 0.04, fill=body, outline=(40, 40, 40))
    draw.rectangle((left + 2, top + 2, right - 2, top + height * 0.08), fill=_shade(body, 0.6))  # the cap
    # A cylinder's highlight: a lighter vertical stripe left of centre.
    draw.rectangle(
        (left + width * 0.08, top + height * 0.1, left + width * 0.13, bottom - 6), fill=_shade(body, 1.25)
    )
    # The brand oval and its wordmark (white, as brands keep it across flavours).
    oval = (
        left + width * 0.06,
        height * layout.oval_top,
        right - width * 0.06,
        height * (layout.oval_top + 0.18),
    )
    draw.ellipse(oval, fill=(250, 250, 250), outline=_shade(body, 0.5), width=4)
    font = ImageFont.load_default(size=width // 11)
    draw.text((left + width * 0.1, height * (layout.oval_top + 0.05)), layout.word, fill=body, font=font)
    # The flavour band.
    draw.rectangle(
        (left + 2, height * layout.band_top, right - 2, height * (layout.band_top + 0.1)), fill=band
    )
    small = ImageFont.load_default(size=width // 28)
    draw.text(
        (left + width * 0.08, height * (layout.band_top + 0.03)),
        "SABOR ORIGINAL",
        fill=(20, 20, 20),
        font=small,
    )
    # Nutrition boxes: small, dark on white, the same on every flavour.
    for index in range(layout.boxes):
        x = left + width * (0.05 + index * 0.12)
        draw.rectangle(
            (x, height * 0.76, x + width * 0.1, height * 0.84), fill=(250, 250, 250), outline=(20, 20, 20)
        )
        draw.text((x + 6, height * 0.78), f"{index * 7 + 3}g", fill=(20, 20, 20), font=small)
    return image


def encode(image: Image.Image, quality: int = 90) -> bytes:
    out = BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def base() -> Image.Image:
    return package(BODIES[BASE_BODY], BANDS[BASE_BAND])


def closeup() -> Image.Image:
    """The package filling the frame (no plain border to trim): what a crop really cuts into."""
    width, height = SIZE
    return base().crop(
        (round(width * 0.235), round(height * 0.07), round(width * 0.765), round(height * 0.93))
    )


def _scaled(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    factor = side / max(copy.size)
    return copy.resize((round(copy.width * factor), round(copy.height * factor)), Image.Resampling.LANCZOS)


def _cropped(image: Image.Image, share: float) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * share), round(height * share)
    return image.crop((dx, dy, width - dx, height - dy))


def _padded(image: Image.Image, share: float, colour: Colour) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * share), round(height * share)
    canvas = Image.new("RGB", (width + 2 * dx, height + 2 * dy), colour)
    canvas.paste(image, (dx, dy))
    return canvas


@dataclass(frozen=True)
class Copy:
    """One picture as the web copies it: `original` and `make()` are the same picture."""

    name: str
    original: Callable[[], Image.Image]
    make: Callable[[], bytes]
    # False: a crop 3% or more into a full-bleed package, past what a 16 x 16 grey hash follows
    # (the grid moves half a cell); measured and printed by the bench, not promised.
    promised: bool = True


def copies() -> list[Copy]:
    """Scaled, recompressed, cropped by a border and padded copies (and a few of these at once)."""
    made: list[Copy] = []
    for side in (1600, 600, 400, 300, 200):
        made.append(Copy(f"redimensionada-{side}px", base, lambda s=side: encode(_scaled(base(), s))))
    for quality in (30, 50, 70, 95):
        made.append(Copy(f"jpeg-q{quality}", base, lambda q=quality: encode(base(), q)))
    made.append(Copy("400px-jpeg-q50", base, lambda: encode(_scaled(base(), 400), 50)))
    for share in (0.01, 0.02, 0.03, 0.05):
        made.append(
            Copy(
                f"recortada-{round(share * 100)}pct",
                closeup,
                lambda s=share: encode(_cropped(closeup(), s)),
                promised=share < 0.03,
            )
        )
        made.append(Copy(f"borda-{round(share * 100)}pct", base, lambda s=share: encode(_cropped(base(), s))))
    made.append(
        Copy("recortada-2pct-500px-q60", closeup, lambda: encode(_scaled(_cropped(closeup(), 0.02), 500), 60))
    )
    for share in (0.05, 0.15):
        made.append(
            Copy(
                f"margem-branca-{round(share * 100)}pct",
                base,
                lambda s=share: encode(_padded(base(), s, (255, 255, 255))),
            )
        )
    made.append(Copy("margem-cinza-10pct", base, lambda: encode(_padded(base(), 0.10, (232, 232, 232)))))
    made.append(Copy("png", base, lambda: _png(base())))
    return made


def _png(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def colourways() -> dict[str, bytes]:
    """The same design in every body colour (the base band)."""
    return {name: encode(package(body, BANDS[BASE_BAND])) for name, body in BODIES.items()}


def flavour_bands() -> dict[str, bytes]:
    """The red package with every flavour band."""
    return {name: encode(package(BODIES[BASE_BODY], band)) for name, band in BANDS.items()}


def other_designs() -> dict[str, bytes]:
    """The red package's colours in other layouts (other products of one brand), and the base."""
    made = {"base": encode(base())}
    for name, layout in LAYOUTS.items():
        made[name] = encode(package(BODIES[BASE_BODY], BANDS[BASE_BAND], layout=layout))
    return made
