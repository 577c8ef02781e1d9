"""Bad input never gives a 5xx, over gRPC: any ChatRequest a client can put on the wire is
either run or refused with INVALID_ARGUMENT (or another documented status) carrying an
ErrorInfo — never INTERNAL or UNKNOWN. In process over the codec (many examples), then
against the real gateway (fewer, each a real call)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgateway.v1 import executor_service_pb2 as ex_pb
from agentgateway.v1 import executor_service_pb2_grpc as ex_grpc
from agentgateway.v1 import messages_pb2 as pb
from services.errors import GatewayError
from services.executor.codec import chat_input_from_proto
from tests.conftest import ADMIN_KEY
from tests.gateway_process import GatewayProcess
from tests.proto_strategies import messages

# A known agent half the time, so requests get past the model lookup into the run.
_MODELS = st.sampled_from(["default/weather", "default/helpdesk", "default/extractor", "", "default/nope"])


@st.composite
def chat_requests(draw: st.DrawFn) -> pb.ChatRequest:
    chat = draw(messages(pb.ChatRequest))
    assert isinstance(chat, pb.ChatRequest)
    chat.model = draw(_MODELS)
    return chat


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chat=chat_requests())
def test_any_chat_request_is_translated_or_refused_as_invalid_argument(chat: pb.ChatRequest) -> None:
    try:
        chat_input_from_proto(chat)
    except GatewayError as error:
        assert error.status == "INVALID_ARGUMENT", error
        assert error.message


@pytest.fixture(scope="module")
def stub(gateway: GatewayProcess) -> Iterator[ex_grpc.ExecutorServiceStub]:
    with grpc.insecure_channel(gateway.grpc_address) as channel:
        yield ex_grpc.ExecutorServiceStub(channel)


# What the gateway may answer a well-formed request it cannot serve; INTERNAL and UNKNOWN are bugs.
_DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(chat=chat_requests())
def test_any_chat_request_to_the_gateway_gets_a_documented_answer(stub: ex_grpc.ExecutorServiceStub, chat: pb.ChatRequest) -> None:
    try:
        stub.CreateChatCompletion(ex_pb.CreateChatCompletionRequest(chat=chat), metadata=[("authorization", f"Bearer {ADMIN_KEY}")], timeout=20)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        assert exc.code() in _DOCUMENTED, (exc.code(), exc.details())
        # A gateway error, with its ErrorInfo: not a status gRPC made up on its own.
        assert any(key == "grpc-status-details-bin" for key, _ in exc.trailing_metadata() or ()), (exc.code(), exc.details())


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (pb.ContentPart(image_url=pb.ImageUrl(url="")), "messages[0].content[1].image_url.url"),
        (pb.ContentPart(input_audio=pb.InputAudio(data="", format="wav")), "messages[0].content[1].input_audio.data"),
        (pb.ContentPart(input_audio=pb.InputAudio(data="AAAA", format="")), "messages[0].content[1].input_audio.format"),
        (pb.ContentPart(file=pb.FileData(filename="a.pdf")), "messages[0].content[1].file"),
    ],
    ids=["image-without-url", "audio-without-data", "audio-without-format", "file-without-content"],
)
def test_a_content_part_missing_what_its_kind_needs_is_a_400_naming_it(part: pb.ContentPart, param: str) -> None:
    # Found by the property test above: the SDK refused such parts mid-run, a 500 agent_error.
    chat = pb.ChatRequest(model="default/weather", messages=[pb.ChatMessage(role=pb.ROLE_USER, parts=[pb.ContentPart(text="look"), part])])
    with pytest.raises(GatewayError) as caught:
        chat_input_from_proto(chat)
    assert (caught.value.status, caught.value.metadata.get("param")) == ("INVALID_ARGUMENT", param)
