"""The local OpenAI-compatible server speaks the protocol litellm expects (JSON and SSE), and its injected
failures reach litellm as the errors a real provider would cause."""

import pytest

from arena.llm.retry import run_coroutine

litellm = pytest.importorskip("litellm")


def _call(server, model, **kwargs):
    return litellm.completion(
        model=f"openai/{model}",
        api_base=server.url,
        api_key="test-key",
        messages=[{"role": "user", "content": "I lost my job today and I feel numb."}],
        num_retries=0,
        **kwargs,
    )


def test_json_completion_has_text_and_usage(llm_server):
    response = _call(llm_server, "warm-1")
    text = response.choices[0].message.content
    assert "(I read all 9 words.)" in text
    assert response.usage.completion_tokens == len(text.split())
    assert llm_server.requests_for("warm-1")[0].stream is False


def test_stream_reassembles_to_the_same_text(llm_server):
    whole = _call(llm_server, "warm-1").choices[0].message.content
    parts = [chunk.choices[0].delta.content or "" for chunk in _call(llm_server, "warm-1", stream=True)]
    assert len(parts) > 3
    assert "".join(parts) == whole


@pytest.mark.parametrize(("model", "error"), [("fail-429", "RateLimitError"), ("fail-500", "InternalServerError")])
def test_injected_http_errors_reach_litellm(llm_server, model, error):
    with pytest.raises(Exception) as caught:
        _call(llm_server, model)
    assert type(caught.value).__name__ == error


def test_a_hanging_provider_times_out(llm_server):
    with pytest.raises(litellm.Timeout):
        _call(llm_server, "hang", timeout=0.5)


def test_a_malformed_stream_raises(llm_server):
    async def consume():
        stream = await litellm.acompletion(
            model="openai/malformed-stream",
            api_base=llm_server.url,
            api_key="k",
            messages=[{"role": "user", "content": "hello there friend"}],
            stream=True,
            num_retries=0,
        )
        return [chunk async for chunk in stream]

    with pytest.raises(Exception) as caught:  # noqa: PT011 - litellm wraps the JSON error in its own types
        run_coroutine(consume())
    assert "litellm" in type(caught.value).__module__, caught.value
