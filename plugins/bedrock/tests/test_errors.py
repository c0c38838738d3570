"""Bedrock's errors read and classified: one row per exception, as Bedrock sends them."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.resilience.classify import ErrorClass
from sluicegate_bedrock import errors


def body(message: str, **extra) -> bytes:
    return orjson.dumps({"message": message, **extra})


@pytest.mark.parametrize(
    ("header", "status", "message", "client_status", "error_class"),
    [
        ("ThrottlingException", 429, "Too many requests, please wait before trying again.", 429, ErrorClass.RATE_LIMIT),
        ("ServiceQuotaExceededException", 400, "Too many tokens per day, please wait before trying again.", 429,
         ErrorClass.RATE_LIMIT),
        ("ModelNotReadyException", 429, "Model is not ready for inference. Wait and try your request again.", 429,
         ErrorClass.RATE_LIMIT),
        ("ValidationException", 400, "Malformed input request: #: extraneous key [foo] is not permitted", 400,
         ErrorClass.INVALID_REQUEST),
        ("ValidationException", 400, "Input is too long for requested model.", 400, ErrorClass.CONTEXT_LENGTH),
        ("ValidationException", 400, "prompt is too long: 215000 tokens > 200000 maximum", 400, ErrorClass.CONTEXT_LENGTH),
        ("ValidationException", 400, "The model returned the following errors: too many input tokens", 400,
         ErrorClass.CONTEXT_LENGTH),
        ("ValidationException", 400, "Output blocked by content filtering policy", 400, ErrorClass.CONTENT_FILTER),
        ("AccessDeniedException", 403, "You don't have access to the model with the specified model ID.", 403,
         ErrorClass.PERMISSION),
        ("ResourceNotFoundException", 404, "Could not resolve the foundation model from the provided model identifier.",
         404, ErrorClass.NOT_FOUND),
        ("ModelTimeoutException", 408, "Model has timed out in processing the request.", 504, ErrorClass.TIMEOUT),
        ("ServiceUnavailableException", 503, "Bedrock is unable to process your request.", 503, ErrorClass.OVERLOADED),
        ("InternalServerException", 500, "Internal server error", 500, ErrorClass.OVERLOADED),
        ("ModelErrorException", 424, "The model returned an error.", 502, ErrorClass.OVERLOADED),
        ("UnrecognizedClientException", 403, "The security token included in the request is invalid.", 401,
         ErrorClass.AUTHENTICATION),
        ("InvalidSignatureException", 403, "The request signature we calculated does not match the signature you provided.",
         401, ErrorClass.AUTHENTICATION),
        ("ExpiredTokenException", 403, "The security token included in the request is expired", 401,
         ErrorClass.AUTHENTICATION),
        ("IncompleteSignatureException", 400, "Authorization header requires 'Signature' parameter.", 401,
         ErrorClass.AUTHENTICATION),
        ("MissingAuthenticationTokenException", 403, "Missing Authentication Token", 401, ErrorClass.AUTHENTICATION),
    ],
)
def test_each_exception_maps_to_its_status_and_class(header, status, message, client_status, error_class):
    error = errors.error_details(body(message), f"{header}:http://internal.amazon.com/coral/com.amazon.bedrock/")
    assert error == errors.BedrockError(header, message)
    kind = errors.classify_error(error, status)
    assert (kind.status, kind.error_class) == (client_status, error_class)


def test_the_type_may_come_in_the_body_and_the_message_capitalised():
    error = errors.error_details(orjson.dumps({"__type": "com.amazon.coral.service#UnrecognizedClientException",
                                               "Message": "The security token included in the request is invalid."}))
    assert error == errors.BedrockError("UnrecognizedClientException", "The security token included in the request is invalid.")


@pytest.mark.parametrize(
    ("kind", "status", "error_class"),
    [
        ("throttlingException", 429, ErrorClass.RATE_LIMIT),
        ("modelStreamErrorException", 502, ErrorClass.OVERLOADED),
        ("validationException", 400, ErrorClass.INVALID_REQUEST),
        ("internalServerException", 500, ErrorClass.OVERLOADED),
        ("serviceUnavailableException", 503, ErrorClass.OVERLOADED),
        ("modelTimeoutException", 504, ErrorClass.TIMEOUT),
    ],
)
def test_stream_exceptions_in_camel_case_classify_without_a_status(kind, status, error_class):
    error = errors.reported({"message": "broke", "__type": kind})
    assert (errors.classify_error(error, None).status, errors.classify_error(error, None).error_class) == (
        status, error_class,
    )


@pytest.mark.parametrize(
    ("status", "raw", "client_status", "error_class"),
    [
        (502, b"<html>Bad Gateway</html>", 502, ErrorClass.OVERLOADED),
        (429, b"", 429, ErrorClass.RATE_LIMIT),
        (403, b'{"message": "The security token included in the request is invalid"}', 401, ErrorClass.AUTHENTICATION),
        (403, b'{"message": "Forbidden"}', 403, ErrorClass.PERMISSION),
        (408, b"timeout", 504, ErrorClass.TIMEOUT),
        (418, b"{}", 418, ErrorClass.INVALID_REQUEST),
    ],
)
def test_an_unnamed_error_is_judged_by_its_status(status, raw, client_status, error_class):
    kind = errors.classify_error(errors.error_details(raw), status)
    assert (kind.status, kind.error_class) == (client_status, error_class)


def test_a_body_that_is_not_json_keeps_its_text():
    assert errors.error_details(b"  upstream connect error  ").message == "upstream connect error"
    assert errors.error_details(b"").message == "no error message"
