"""Domain errors: what services raise and the web layer turns into 4xx answers."""


class LessonsError(Exception):
    """Base of every error the domain raises on purpose."""


class ValidationError(LessonsError):
    """Input that cannot be stored; `fields` maps each bad field to a message."""

    def __init__(self, fields: dict[str, str], message: str = "The input is not valid."):
        super().__init__(message)
        self.message = message
        self.fields = fields


class NotFound(LessonsError):
    """No row of that kind with that id."""

    def __init__(self, entity: str, entity_id: object):
        super().__init__(f"No {entity} with id {entity_id}.")
        self.message = str(self)


class Conflict(LessonsError):
    """The request clashes with the row's current state (for example, it is deleted)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Forbidden(LessonsError):
    """The actor may not take this step on this row (for example, approve their own lesson)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
