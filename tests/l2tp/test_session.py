"""The data channel of one call (RFC 2661 §3.1, §5.4): what ``Session.encode_data`` sends decodes to
the header and frame it was given, with and without sequencing, for any peer tunnel ID."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ikel2tp.l2tp.packet import Header, decode_datagram
from ikel2tp.l2tp.session import PPP_ADDRESS_CONTROL, Session

u16 = st.integers(0, 0xFFFF)


@settings(derandomize=True, deadline=None)
@given(u16, u16, st.lists(st.tuples(u16, st.binary(max_size=40)), min_size=1, max_size=4), st.booleans())
def test_encode_data_decodes_to_its_header_and_frame(session_id, peer_session_id, frames, sequencing):
    session = Session(1, session_id, peer_session_id, 0, 0.0, sequencing=sequencing, data_ns=0xFFFE)
    for n, (peer_tunnel_id, frame) in enumerate(frames):
        ns = (0xFFFE + n) % 0x10000 if sequencing else None
        expected = Header(False, peer_tunnel_id, peer_session_id, ns, 0 if sequencing else None)
        assert decode_datagram(session.encode_data(peer_tunnel_id, frame)) == (expected,
                                                                               PPP_ADDRESS_CONTROL + frame)


def test_sequencing_turned_on_mid_call_numbers_from_there():
    session = Session(1, 2, 3, 0, 0.0)
    assert session.encode_data(7, b"\xc0\x21") == bytes.fromhex("00020007 0003 ff03 c021".replace(" ", ""))
    session.sequencing = True
    header, _ = decode_datagram(session.encode_data(7, b"\xc0\x21"))
    assert (header.ns, header.nr) == (0, 0) and session.data_ns == 1
