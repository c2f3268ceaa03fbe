"""One small error tree. Entry points translate these: the CLI prints and exits non-zero,
the API answers 4xx/5xx with a clear detail, the UI shows an error box."""


class AssistantError(Exception):
    """Base of every error this project raises on purpose."""


class SettingsError(AssistantError, ValueError):
    """A setting (an `HHA_...` environment variable) has a value that cannot be used."""


class NoIndexError(AssistantError):
    """There is no complete index yet: run `hha ingest`."""


class StoreUnavailableError(AssistantError):
    """The vector store (a Chroma server) cannot be reached."""


class IndexLockedError(AssistantError):
    """Another process is writing the index."""


class BadQuestionError(AssistantError):
    """The question is empty, too long or otherwise unusable."""


class UnknownAreaError(AssistantError):
    def __init__(self, area: str, known: list[str]):
        self.area = area
        self.known = known
        super().__init__(f"unknown area {area!r}; known areas: {', '.join(known)}")


class NothingToIndexError(AssistantError):
    """An ingest found no usable text; the live index was left as it was."""


class SkippedFile(AssistantError):
    """A source file that cannot be ingested; the reason is the message."""


class ModelUnavailableError(AssistantError):
    """The optional chat model could not be reached."""
