"""SigV4: botocore's signer at an injected time against AWS's published test vectors, a Bedrock
call signed and checked by the fake's independent verifier, and a bad signature refused through
the real gateway."""

from __future__ import annotations

import datetime

import openai
import pytest
from botocore.credentials import ReadOnlyCredentials

from sluicegate.testing.vendor import Usage
from sluicegate_bedrock import model_ids
from sluicegate_bedrock.fake import ACCESS_KEY_ID, SECRET_ACCESS_KEY, BedrockScript, FakeCredentials
from sluicegate_bedrock.signing import Signer

# AWS's Signature Version 4 test suite (aws-sig-v4-test-suite, as botocore's tests carry it):
# these keys, this moment, region us-east-1, service "service".
SUITE_KEYS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
SUITE_TIME = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC).timestamp()
SUITE_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx"
    "7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+"
    "xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)


def suite_signer() -> Signer:
    return Signer("us-east-1", lambda: SUITE_TIME, service="service")


def test_post_x_www_form_urlencoded_vector():
    signed = suite_signer().sign(
        SUITE_KEYS, "POST", "https://example.amazonaws.com/",
        {"Content-Type": "application/x-www-form-urlencoded"}, b"Param1=value1",
    )
    assert signed.canonical_request == (
        "POST\n/\n\n"
        "content-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "content-type;host;x-amz-date\n"
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    )
    assert signed.headers == {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        "X-Amz-Date": "20150830T123600Z",
    }


def test_post_sts_header_before_vector_signs_the_session_token():
    keys = ReadOnlyCredentials(SUITE_KEYS.access_key, SUITE_KEYS.secret_key, SUITE_TOKEN)
    signed = suite_signer().sign(keys, "POST", "https://example.amazonaws.com/", {}, b"")
    assert signed.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
    )
    assert signed.headers["X-Amz-Security-Token"] == SUITE_TOKEN


ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
NOW = datetime.datetime(2025, 10, 1, 8, 30, 5, tzinfo=datetime.UTC).timestamp()
BODY = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'


def bedrock_call(url: str, body: bytes = BODY):
    keys = ReadOnlyCredentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, "session-token-0123456789")
    headers = {"Content-Type": "application/json"}
    signed = Signer("us-east-1", lambda: NOW).sign(keys, "POST", url, headers, body)
    return signed, {**{k.lower(): v for k, v in headers.items()}, "host": "bedrock-runtime.us-east-1.amazonaws.com",
                    **{k.lower(): v for k, v in signed.headers.items()}}


def test_an_arn_is_one_encoded_path_segment_and_signed_over_the_path_as_sent():
    path = model_ids.model_path(ARN, model_ids.CONVERSE)
    assert path == "/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fa1b2c3d4e5f6/converse"
    signed, headers = bedrock_call("https://bedrock-runtime.us-east-1.amazonaws.com" + path)
    method, uri, *_ = signed.canonical_request.split("\n")
    # AWS encodes the path it receives once more for the canonical request (every service but S3).
    assert (method, uri) == (
        "POST", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%252Fa1b2c3d4e5f6/converse"
    )
    assert headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20251001/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )
    fake = FakeCredentials(session_token="session-token-0123456789")
    assert fake.check("POST", path, "", headers, BODY) == SECRET_ACCESS_KEY


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path, headers, body: (path, headers, body + b" "),
        lambda path, headers, body: (path.replace("a1b2", "ffff"), headers, body),
        lambda path, headers, body: (path, {**headers, "x-amz-date": "20251001T083006Z"}, body),
        lambda path, headers, body: (path, {**headers, "content-type": "text/plain"}, body),
        lambda path, headers, body: (path, {**headers, "x-amz-security-token": "another"}, body),
    ],
)
def test_the_fake_refuses_what_the_signature_does_not_cover(tamper):
    path = model_ids.model_path(ARN, model_ids.CONVERSE)
    _, headers = bedrock_call("https://bedrock-runtime.us-east-1.amazonaws.com" + path)
    fake = FakeCredentials(session_token="session-token-0123456789")
    path, headers, body = tamper(path, headers, BODY)
    assert fake.check("POST", path, "", headers, body) is None


def test_other_keys_or_another_region_do_not_pass():
    path = model_ids.model_path("amazon.nova-lite-v1:0", model_ids.CONVERSE)
    _, headers = bedrock_call("https://bedrock-runtime.us-east-1.amazonaws.com" + path)
    assert FakeCredentials(secret_access_key="another-secret-key-entirely").check("POST", path, "", headers, BODY) is None
    assert FakeCredentials(region="eu-west-1").check("POST", path, "", headers, BODY) is None


@pytest.mark.parametrize("model", ["", ".", "..", " padded "])
def test_an_id_that_is_no_id_is_refused(model):
    from sluicegate.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        model_ids.model_path(model, model_ids.CONVERSE)


# -- through the gateway ------------------------------------------------------------------------


def config(url: str, secret: str, model: str) -> str:
    return f"""
[providers.aws]
type = "bedrock"
region = "us-east-1"
base_url = "{url}"
access_key_id = "{ACCESS_KEY_ID}"
secret_access_key = "{secret}"

[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["aws/{model}"]
"""


async def test_a_wrong_secret_is_refused_by_bedrock_as_an_authentication_error(gateway, fake_upstream):
    script = BedrockScript()
    path = script.chat_path(False)
    fake_upstream.on(path, script.answer_text("never", Usage()))
    server = await gateway(config(fake_upstream.url, "not-the-right-secret-key-0000", script.upstream_model))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    error = refused.value.response.json()["error"]
    assert error["code"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in error["message"]
    assert "not-the-right-secret-key" not in refused.value.response.text
    assert len(fake_upstream.calls(path)) == 1


async def test_an_arn_model_reaches_bedrock_encoded_and_correctly_signed(gateway, fake_upstream):
    script = BedrockScript(model=ARN)
    path = script.chat_path(False)  # the fake's route: the path as decoded
    fake_upstream.on(path, script.answer_text("From the profile.", Usage()))
    server = await gateway(config(fake_upstream.url, SECRET_ACCESS_KEY, ARN))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    answer = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "From the profile."
    (call,) = fake_upstream.calls(path)
    assert call.path == f"/model/{ARN}/converse"
