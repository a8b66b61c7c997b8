from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('caching', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='pendinginvalidation',
            name='applied_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='pendinginvalidation',
            index=models.Index(condition=models.Q(('applied_at__isnull', True)), fields=['id'], name='pendinginvalidation_pending'),
        ),
        migrations.AddIndex(
            model_name='pendinginvalidation',
            index=models.Index(fields=['applied_at'], name='pendinginvalidation_applied'),
        ),
    ]
