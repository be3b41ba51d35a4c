# The `stopped` order state (temporal_bridge.order.states.STOPPED): a choices-only change, no SQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0005_order_submission_key'),
    ]

    operations = [
        migrations.AlterField(
            model_name='order',
            name='status',
            field=models.CharField(choices=[('pending_approval', 'Pending approval'), ('approved', 'Approved'), ('processing', 'Processing'), ('fulfilling', 'Fulfilling'), ('fulfilled', 'Fulfilled'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('expired', 'Expired'), ('failed', 'Failed'), ('stopped', 'Stopped')], default='pending_approval', max_length=20),
        ),
    ]
