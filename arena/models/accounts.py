from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class VerifiedEmail(models.Model):
    """An address the account's owner proved they read (they followed the link mailed to it).

    Votes can be made to count only from such accounts (ARENA_VOTE_REQUIRE_VERIFIED_EMAIL), or from young
    accounts only once verified (ARENA_VOTE_MIN_ACCOUNT_AGE): one mailbox per account is costlier to fake
    than one sign-up form.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verified_email"
    )
    email = models.EmailField()
    verified_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One mailbox verifies one account (checked with a message first by the service).
            models.UniqueConstraint(Lower("email"), name="verified_email_one_account_per_address")
        ]

    def __str__(self) -> str:
        return f"{self.email} (verified)"
