"""unanswered."""
