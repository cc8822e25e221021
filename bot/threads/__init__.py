"""After the acknowledgement: what fills an incident thread.

`service.IncidentService` runs playbooks into threads, keeps checklists current and closes
incidents; `supervisor.TaskSupervisor` keeps the background tasks; `sink.ThreadSink` is where a
thread is written (Slack or a terminal).
"""

from bot.threads.service import IncidentService
from bot.threads.sink import LatestOnly, ThreadSink
from bot.threads.supervisor import Reported, TaskSupervisor, error_text

__all__ = ["IncidentService", "LatestOnly", "Reported", "TaskSupervisor", "ThreadSink", "error_text"]
