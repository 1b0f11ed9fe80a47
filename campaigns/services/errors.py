"""The one error every service raises for a request the data does not allow."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the data does not allow; the messages say why, for a person to read.

    `by_field` maps each message to the input field it is about ("" when none is).
    """

    def __init__(self, messages: str | list[str] | dict[str, list[str]]):
        if isinstance(messages, str):
            messages = [messages]
        self.by_field = dict(messages) if isinstance(messages, dict) else {"": list(messages)}
        self.messages = [m for ms in self.by_field.values() for m in ms]
        super().__init__("; ".join(self.messages))

