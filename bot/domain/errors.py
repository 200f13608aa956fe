"""Domain errors: each carries a plain message that can be shown to the person as it is."""


class DomainError(Exception):
    """Something the person asked for can't be done; the message says why in plain words."""


class InvalidTransition(DomainError):
    pass


class NotAuthorised(DomainError):
    pass


class CompensationRefused(DomainError):
    pass


class AlreadyDecided(InvalidTransition):
    """A second decision on the same compensation; says who made the first."""

    def __init__(self, compensation: object, message: str) -> None:
        super().__init__(message)
        self.compensation = compensation
