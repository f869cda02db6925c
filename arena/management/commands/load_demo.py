from django.core.management.base import BaseCommand

from arena.demo.loader import demo_load


class Command(BaseCommand):
    help = "Load the demo arena (prompt set, contenders, outputs, battles). Safe to run twice."

    def handle(self, *args, **options):
        summary = demo_load()
        self.stdout.write(
            f"Demo arena: prompt set {summary.prompt_set.slug}, {summary.contenders} contenders, "
            f"{summary.outputs} new outputs, {summary.battles_created} new battles."
        )
