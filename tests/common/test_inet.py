from ikel2tp.common.inet import internet_checksum


def test_rfc1071_example():
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_odd_length_pads_and_a_correct_header_sums_to_zero():
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    value = internet_checksum(header)
    assert value == 0xB861  # a well-known IPv4 header example
    fixed = header[:10] + value.to_bytes(2, "big") + header[12:]
    assert internet_checksum(fixed) == 0
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00")
