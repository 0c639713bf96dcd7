"""Inert samples and near-misses for signatures/rules/test_files.yar."""

from __future__ import annotations

from sample_blocks import Builders


def eicar() -> dict[str, bytes]:
    return {"eicar": b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"}


def eicar_quoted() -> dict[str, bytes]:
    """The string quoted inside a page about it (not at offset 0, in a larger file): not the test file."""
    page = (
        "<html><body><p>The EICAR test file is the 68 characters below, saved alone in a file:</p>\n"
        "<pre>X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*</pre>\n"
        + "<p>Any scanner should report such a file; this page is not one.</p>\n" * 4
        + "</body></html>\n"
    )
    truncated = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FIL"
    return {"eicar-in-a-page": page.encode("ascii"), "eicar-truncated": truncated}


SAMPLES: Builders = {
    "EICAR_Test_File": eicar,
}

NEARMISS: Builders = {
    "EICAR_Test_File": eicar_quoted,
}
