"""The picture's fetch schedule (Passage.picture_due_at): pictures still pending from the
one-task-per-picture fetch are due at once, so the drain (tasks.fetch_pending_pictures) takes
them."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def pending_due_now(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Passage = apps.get_model("passages", "Passage")
    Passage.objects.filter(picture_state="pending").update(picture_due_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("passages", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="passage",
            name="picture_due_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="passage",
            index=models.Index(
                condition=models.Q(("picture_state", "pending")),
                fields=["picture_due_at"],
                name="passage_picture_due",
            ),
        ),
        migrations.RunPython(pending_due_now, migrations.RunPython.noop),
    ]
