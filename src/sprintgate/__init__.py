# sprintgate
