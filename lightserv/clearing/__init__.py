"""Clearing: the queue, claiming and assignment, the entry form of every protocol (generated from the
step catalogue), completion, the clearing log and calendar export, and the antibody pages. Its Celery task
(the daily reminder) is loaded by the worker through lightserv.celery_app.TASK_MODULES."""
