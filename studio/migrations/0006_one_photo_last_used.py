import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0005_pose_extraction_job_model_skin_readings"),
    ]

    operations = [
        migrations.AddField(
            model_name="onephotoprofile",
            name="last_used_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
    ]
