from django.http import JsonResponse


def telegram_webhook(request):  # placeholder replaced below in this change
    return JsonResponse({})
