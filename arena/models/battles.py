from django.db import models
from django.db.models import F, Q


class Battle(models.Model):
    """Two outputs of different contenders on the same prompt.

    The contenders are copied from the outputs (by `battle_get_or_create`, the only writer) so that rating
    aggregation groups verdicts without joining outputs.
    """

    prompt = models.ForeignKey("arena.Prompt", on_delete=models.CASCADE, related_name="battles")
    output_a = models.ForeignKey("arena.Output", on_delete=models.CASCADE, related_name="+")
    output_b = models.ForeignKey("arena.Output", on_delete=models.CASCADE, related_name="+")
    contender_a = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    contender_b = models.ForeignKey("arena.Contender", on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(contender_a=F("contender_b")), name="battle_different_contenders"
            ),
            models.CheckConstraint(condition=~Q(output_a=F("output_b")), name="battle_different_outputs"),
            models.UniqueConstraint(fields=["output_a", "output_b"], name="battle_unique_ordered_pair"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}: {self.contender_a_id} vs {self.contender_b_id} on {self.prompt_id}"
