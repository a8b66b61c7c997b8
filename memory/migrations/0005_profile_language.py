from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('memory', '0004_profile_blocked_quiet_hours'),
    ]

    operations = [
        migrations.AddField(
            model_name='profile',
            name='language',
            field=models.CharField(blank=True, choices=[('en', 'English'), ('de', 'Deutsch'), ('es', 'Español')], max_length=8),
        ),
    ]
