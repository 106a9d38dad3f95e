"""What an app calls by hand: agents and tools, activities, queues, evaluations and feedback."""
