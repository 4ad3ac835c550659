include $(sort $(wildcard $(BR2_EXTERNAL_SWUPDATED_PATH)/package/*/*.mk))
