"""A baseline JPEG whose components come in separate scans, which Pillow cannot write.

libjpeg decodes such a file (like a progressive one) through a buffer holding every DCT
coefficient of the full image, whatever scale it is asked for: the expensive case the photo
pixel budgets must know. The picture is flat mid-grey: every 8x8 block is "DC difference 0,
end of block", six bits with the standard Huffman tables (JPEG Annex K.3).
"""

from __future__ import annotations

import struct

_DC_BITS = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
_DC_VALUES = bytes(range(12))
_AC_BITS = bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D])
_AC_VALUES = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f024336272820"
    "90a161718191a25262728292a3435363738393a434445464748494a535455565758595a6364"
    "65666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8"
    "a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9"
    "eaf1f2f3f4f5f6f7f8f9fa"
)
_BLOCK_BITS = "001010"  # DC category 0 ("00"), then EOB ("1010")


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def multi_scan_jpeg(width: int, height: int, components: int = 3) -> bytes:
    """``components`` (1, 3: YCbCr, 4: CMYK) at full resolution, one scan each."""
    frame = struct.pack(">BHHB", 8, height, width, components)
    for number in range(1, components + 1):
        frame += bytes([number, 0x11, 0])
    header = b"\xff\xd8" + _segment(0xDB, b"\x00" + bytes([1] * 64)) + _segment(0xC0, frame)
    header += _segment(0xC4, b"\x00" + _DC_BITS + _DC_VALUES)
    header += _segment(0xC4, b"\x10" + _AC_BITS + _AC_VALUES)
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = _BLOCK_BITS * blocks
    bits += "1" * (-len(bits) % 8)  # pad the last byte with ones
    # Never an 0xFF byte (the pattern is 0x28 0xA2 0x8A...), so no byte stuffing is needed.
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big")
    body = b"".join(
        _segment(0xDA, bytes([1, number, 0x00, 0, 63, 0])) + scan
        for number in range(1, components + 1)
    )
    return header + body + b"\xff\xd9"
