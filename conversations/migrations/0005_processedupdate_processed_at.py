from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0004_processedupdate_user_recent'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='processedupdate',
            index=models.Index(fields=['processed_at'], name='processedupdate_processed_at'),
        ),
    ]
